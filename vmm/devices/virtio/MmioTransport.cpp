#include "vmm/devices/virtio/MmioTransport.h"

#include "common/Error.h"

#include <algorithm>
#include <cstring>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>

namespace vmm::virtio {

namespace {

constexpr uint32_t vendor = 0x004d4d56; // "VMM"

uint64_t with_low(uint64_t value, uint32_t low) { return (value & ~0xffffffffull) | low; }
uint64_t with_high(uint64_t value, uint32_t high) { return (value & 0xffffffffull) | (uint64_t(high) << 32); }

}

MmioTransport::MmioTransport(GuestMemory const& memory, std::shared_ptr<VirtioDevice> device, std::unique_ptr<InterruptLine> interrupt)
    : m_memory(memory)
    , m_device(std::move(device))
    , m_interrupt(std::move(interrupt))
    , m_queue_locks(std::make_unique<std::mutex[]>(m_device->queue_count()))
{
    m_queues.reserve(m_device->queue_count());
    m_notify.reserve(m_device->queue_count());
    for (uint16_t index = 0; index < m_device->queue_count(); ++index) {
        m_queues.emplace_back(m_memory);
        m_notify.emplace_back(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!m_notify.back().is_valid())
            throw_system_error("eventfd", fmt::format("{} queue {} notification", name(), index));
    }
    std::lock_guard lock(m_mutex);
    reset();
}

MmioTransport::~MmioTransport()
{
    if (m_passes.load(std::memory_order_relaxed) > 0)
        spdlog::debug("{}: {}", name(), statistics());
}

MmioTransport::Counters MmioTransport::counters() const
{
    return {
        .notifications = m_notifications.load(std::memory_order_relaxed),
        .passes = m_passes.load(std::memory_order_relaxed),
        .interrupts = m_interrupts.load(std::memory_order_relaxed),
        .register_accesses = m_register_accesses.load(std::memory_order_relaxed),
    };
}

std::string MmioTransport::statistics() const
{
    auto const counted = counters();
    auto line = fmt::format("{} notifications, {} passes, {} used-buffer interrupts, {} register accesses", counted.notifications,
        counted.passes, counted.interrupts, counted.register_accesses);
    if (auto const device = m_device->statistics(); !device.empty())
        line += "; " + device;
    return line;
}

std::string MmioTransport::name() const
{
    return "virtio-mmio " + m_device->name();
}

uint64_t MmioTransport::negotiated_features() const
{
    std::lock_guard lock(m_mutex);
    return m_driver_features;
}

void MmioTransport::change_configuration(std::function<void()> const& change)
{
    std::lock_guard lock(m_mutex);
    change();
    ++m_configuration_generation;
    if ((m_status & status::driver_ok) && !(m_status & status::device_needs_reset))
        raise_interrupt(interrupt::configuration_change);
    else
        m_configuration_change_unannounced = true;
}

void MmioTransport::read(uint64_t offset, std::span<uint8_t> data)
{
    m_register_accesses.fetch_add(1, std::memory_order_relaxed);
    std::ranges::fill(data, 0);
    if (offset >= VIRTIO_MMIO_CONFIG) {
        std::lock_guard lock(m_mutex);
        auto configuration = m_device->configuration();
        uint64_t const start = offset - VIRTIO_MMIO_CONFIG;
        if (start < configuration.size())
            std::memcpy(data.data(), configuration.data() + start, std::min<uint64_t>(data.size(), configuration.size() - start));
        return;
    }
    // Registers are 32 bits wide; other accesses read zeros (section 4.2.2.2).
    if (data.size() != 4 || offset % 4 != 0)
        return;
    uint32_t value = 0;
    if (offset == VIRTIO_MMIO_INTERRUPT_STATUS) {
        value = m_interrupt_status.load();
        if (m_served_elsewhere.load())
            value |= interrupt::used_buffer;
    } else {
        std::lock_guard lock(m_mutex);
        value = read_register(offset);
    }
    std::memcpy(data.data(), &value, sizeof(value));
}

void MmioTransport::write(uint64_t offset, std::span<uint8_t const> data)
{
    m_register_accesses.fetch_add(1, std::memory_order_relaxed);
    // The configuration spaces vmm offers have no writable fields.
    if (offset >= VIRTIO_MMIO_CONFIG || data.size() != 4 || offset % 4 != 0)
        return;
    uint32_t value = 0;
    std::memcpy(&value, data.data(), sizeof(value));
    if (offset == VIRTIO_MMIO_QUEUE_NOTIFY) {
        // Only reached without an ioeventfd for this value: hand the queue's
        // work to the I/O thread all the same (without VIRTIO_F_NOTIFICATION_DATA
        // the value is the queue's index).
        if (value < m_queues.size())
            kick(static_cast<uint16_t>(value));
        else
            m_log.debug("{}: notification of queue {}, which the device does not have", name(), value);
        return;
    }
    if (offset == VIRTIO_MMIO_INTERRUPT_ACK) {
        m_interrupt_status.fetch_and(~value);
        return;
    }
    std::lock_guard lock(m_mutex);
    // A change to a queue's ring state waits for a pass over it to end.
    bool const is_queue_register = offset == VIRTIO_MMIO_QUEUE_NUM || offset == VIRTIO_MMIO_QUEUE_READY
        || (offset >= VIRTIO_MMIO_QUEUE_DESC_LOW && offset <= VIRTIO_MMIO_QUEUE_USED_HIGH);
    std::unique_lock<std::mutex> queue_lock;
    if (is_queue_register && m_queue_select < m_queues.size())
        queue_lock = std::unique_lock(m_queue_locks[m_queue_select]);
    write_register(offset, value);
}

Virtqueue* MmioTransport::selected_queue()
{
    if (m_queue_select >= m_queues.size())
        return nullptr;
    return &m_queues[m_queue_select];
}

uint32_t MmioTransport::read_register(uint64_t offset)
{
    auto* queue = selected_queue();
    switch (offset) {
    case VIRTIO_MMIO_MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION:
        return VIRTIO_MMIO_MODERN_VERSION;
    case VIRTIO_MMIO_DEVICE_ID:
        return static_cast<uint32_t>(m_device->type());
    case VIRTIO_MMIO_VENDOR_ID:
        return vendor;
    case VIRTIO_MMIO_DEVICE_FEATURES: {
        uint64_t const features = m_device->features() | feature::version_1;
        if (m_device_features_select > 1)
            return 0;
        return static_cast<uint32_t>(features >> (32 * m_device_features_select));
    }
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
        return queue ? queue_size_max : 0;
    case VIRTIO_MMIO_QUEUE_NUM:
        return queue ? queue->size() : 0;
    case VIRTIO_MMIO_QUEUE_READY:
        return queue && queue->is_ready() ? 1 : 0;
    case VIRTIO_MMIO_STATUS:
        return m_status;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
        return queue ? static_cast<uint32_t>(queue->descriptor_table()) : 0;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        return queue ? static_cast<uint32_t>(queue->descriptor_table() >> 32) : 0;
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
        return queue ? static_cast<uint32_t>(queue->available_ring()) : 0;
    case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
        return queue ? static_cast<uint32_t>(queue->available_ring() >> 32) : 0;
    case VIRTIO_MMIO_QUEUE_USED_LOW:
        return queue ? static_cast<uint32_t>(queue->used_ring()) : 0;
    case VIRTIO_MMIO_QUEUE_USED_HIGH:
        return queue ? static_cast<uint32_t>(queue->used_ring() >> 32) : 0;
    case VIRTIO_MMIO_CONFIG_GENERATION:
        return m_configuration_generation;
    default:
        // No shared memory regions: their length and base read as all ones.
        if (offset >= VIRTIO_MMIO_SHM_LEN_LOW && offset <= VIRTIO_MMIO_SHM_BASE_HIGH)
            return 0xffffffff;
        return 0;
    }
}

void MmioTransport::write_register(uint64_t offset, uint32_t value)
{
    auto* queue = selected_queue();
    // Queue registers may change only while that queue is not in use, and
    // not at all after DRIVER_OK (vmm offers no VIRTIO_F_RING_RESET).
    bool const frozen = (m_status & status::driver_ok) != 0;
    auto* configurable_queue = queue && !queue->is_ready() && !frozen ? queue : nullptr;
    bool const is_queue_field = offset == VIRTIO_MMIO_QUEUE_NUM || (offset >= VIRTIO_MMIO_QUEUE_DESC_LOW && offset <= VIRTIO_MMIO_QUEUE_USED_HIGH)
        || (offset == VIRTIO_MMIO_QUEUE_READY && value != 0);
    if (is_queue_field && queue && !configurable_queue)
        m_log.debug("{}: write {:#x} to queue register {:#x} of queue {} ignored: the queue is {}", name(), value, offset,
            m_queue_select, frozen ? "frozen after DRIVER_OK" : "in use");
    switch (offset) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        m_device_features_select = value;
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        if ((m_status & status::driver) && !(m_status & status::features_ok) && m_driver_features_select <= 1) {
            m_driver_features = m_driver_features_select == 0 ? with_low(m_driver_features, value) : with_high(m_driver_features, value);
        }
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        m_driver_features_select = value;
        break;
    case VIRTIO_MMIO_QUEUE_SEL:
        m_queue_select = value;
        break;
    case VIRTIO_MMIO_QUEUE_NUM:
        if (configurable_queue)
            configurable_queue->set_size(static_cast<uint16_t>(std::min<uint32_t>(value, 0xffff)));
        break;
    case VIRTIO_MMIO_QUEUE_READY:
        if (queue && value == 0)
            queue->disable();
        else if (configurable_queue && value == 1)
            enable_queue();
        break;
    case VIRTIO_MMIO_STATUS:
        write_status(value);
        break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
        if (configurable_queue)
            configurable_queue->set_descriptor_table(with_low(configurable_queue->descriptor_table(), value));
        break;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        if (configurable_queue)
            configurable_queue->set_descriptor_table(with_high(configurable_queue->descriptor_table(), value));
        break;
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
        if (configurable_queue)
            configurable_queue->set_available_ring(with_low(configurable_queue->available_ring(), value));
        break;
    case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
        if (configurable_queue)
            configurable_queue->set_available_ring(with_high(configurable_queue->available_ring(), value));
        break;
    case VIRTIO_MMIO_QUEUE_USED_LOW:
        if (configurable_queue)
            configurable_queue->set_used_ring(with_low(configurable_queue->used_ring(), value));
        break;
    case VIRTIO_MMIO_QUEUE_USED_HIGH:
        if (configurable_queue)
            configurable_queue->set_used_ring(with_high(configurable_queue->used_ring(), value));
        break;
    default:
        break;
    }
}

void MmioTransport::enable_queue()
{
    auto& queue = m_queues[m_queue_select];
    if (!(m_status & status::features_ok)) {
        fail("a queue was enabled before FEATURES_OK");
        return;
    }
    if (auto error = queue.enable(m_driver_features))
        fail(fmt::format("queue {}: {}", m_queue_select, *error));
}

void MmioTransport::write_status(uint32_t value)
{
    if (value == 0) {
        reset();
        return;
    }
    // The driver only ever adds bits (section 2.1.2); DEVICE_NEEDS_RESET is the device's.
    value &= ~status::device_needs_reset;
    uint32_t const added = value & ~m_status;
    if ((m_status & ~status::device_needs_reset & ~value) != 0) {
        m_log.warn("{}: driver cleared status bits ({:#x} -> {:#x}); ignored", name(), m_status, value);
        return;
    }
    if (added & status::features_ok) {
        uint64_t const offered = m_device->features() | feature::version_1;
        if ((m_driver_features & ~offered) != 0 || !(m_driver_features & feature::version_1)) {
            // Leaving FEATURES_OK clear tells the driver the device refuses its choice.
            m_log.warn("{}: driver features {:#x} are not a modern subset of {:#x}", name(), m_driver_features, offered);
            value &= ~status::features_ok;
        }
    }
    if ((added & status::driver_ok) && !(value & status::features_ok)) {
        m_status |= value & ~status::driver_ok;
        fail("DRIVER_OK without FEATURES_OK");
        return;
    }
    m_status = value | (m_status & status::device_needs_reset);
    if (!(added & status::driver_ok))
        update_running(); // FAILED stops the passes.
    if (added & status::driver_ok) {
        // No pass runs before this returns: m_running turns true below.
        if (auto error = m_device->activate(m_driver_features, m_queues)) {
            fail(*error);
            return;
        }
        m_served_elsewhere.store(m_device->queues_served_elsewhere());
        update_running();
        kick(); // Serve anything made available before DRIVER_OK.
        if (m_configuration_change_unannounced) {
            m_configuration_change_unannounced = false;
            raise_interrupt(interrupt::configuration_change);
        }
    }
}

bool MmioTransport::is_running() const
{
    return (m_status & (status::driver_ok | status::device_needs_reset | status::failed)) == status::driver_ok;
}

std::vector<std::unique_lock<std::mutex>> MmioTransport::lock_all_queues()
{
    std::vector<std::unique_lock<std::mutex>> locks;
    locks.reserve(m_queues.size());
    for (size_t index = 0; index < m_queues.size(); ++index)
        locks.emplace_back(m_queue_locks[index]);
    return locks;
}

void MmioTransport::reset()
{
    m_status = 0;
    update_running(); // New passes stop here; the locks below wait for those under way.
    auto const locks = lock_all_queues();
    m_device_features_select = 0;
    m_driver_features_select = 0;
    m_driver_features = 0;
    m_queue_select = 0;
    m_interrupt_status.store(0);
    m_served_elsewhere.store(false);
    // The device lets go of the queues before their memory is forgotten.
    m_device->reset();
    for (auto& queue : m_queues) {
        queue.reset();
        queue.set_size(queue_size_max);
    }
}

void MmioTransport::fail(std::string const& reason)
{
    m_log.warn("{}: {}; the device needs a reset", name(), reason);
    m_status |= status::device_needs_reset;
    update_running();
    if (m_status & status::driver_ok)
        raise_interrupt(interrupt::configuration_change);
}

void MmioTransport::raise_interrupt(uint32_t bits)
{
    if (bits & interrupt::used_buffer)
        m_interrupts.fetch_add(1, std::memory_order_relaxed);
    m_interrupt_status.fetch_or(bits);
    m_interrupt->trigger();
}

}
