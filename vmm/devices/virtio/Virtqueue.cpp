#include "vmm/devices/virtio/Virtqueue.h"

#include "vmm/devices/virtio/Virtio.h"

#include <atomic>
#include <bit>
#include <cstring>
#include <fmt/format.h>

namespace vmm::virtio {

namespace {

namespace descriptor_flag {
constexpr uint16_t next = 1;
constexpr uint16_t write = 2;
constexpr uint16_t indirect = 4;
}

constexpr uint16_t available_flag_no_interrupt = 1;
constexpr uint16_t used_flag_no_notify = 1;

// Ring layout (section 2.6): both rings start with 16-bit flags and index.
constexpr size_t ring_header_size = 4;
constexpr size_t available_element_size = 2;
constexpr size_t used_element_size = 8;

uint16_t load_u16(std::span<uint8_t> bytes, size_t offset)
{
    return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(bytes.data() + offset)).load(std::memory_order_acquire);
}

void store_u16(std::span<uint8_t> bytes, size_t offset, uint16_t value)
{
    std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(bytes.data() + offset)).store(value, std::memory_order_release);
}

// Whether an interrupt (or notification) is due: the other side asked for one
// at `event` and the index moved from `old_index` past it to `new_index`.
bool need_event(uint16_t event, uint16_t new_index, uint16_t old_index)
{
    return static_cast<uint16_t>(new_index - event - 1) < static_cast<uint16_t>(new_index - old_index);
}

}

void DescriptorChain::clear()
{
    head = 0;
    readable.clear();
    writable.clear();
    readable_length = 0;
    writable_length = 0;
}

void Virtqueue::reset()
{
    m_size = 0;
    m_descriptor_table = 0;
    m_available_ring = 0;
    m_used_ring = 0;
    m_ready = false;
    m_event_index = false;
    m_indirect = false;
    m_notifications_suppressed = false;
    m_descriptors = {};
    m_available = {};
    m_used = {};
    m_next_available = 0;
    m_next_used = 0;
    m_signalled_used = 0;
}

std::optional<std::string> Virtqueue::enable(uint64_t negotiated_features)
{
    if (m_size == 0 || m_size > queue_size_max || !std::has_single_bit(m_size))
        return fmt::format("queue size {} is not a power of two from 1 to {}", m_size, queue_size_max);
    if (m_descriptor_table % 16 != 0 || m_available_ring % 2 != 0 || m_used_ring % 4 != 0)
        return fmt::format("queue areas {:#x}, {:#x}, {:#x} are misaligned", m_descriptor_table, m_available_ring, m_used_ring);
    // Each ring ends with the 16-bit event index of VIRTIO_RING_F_EVENT_IDX.
    auto descriptors = m_memory->try_slice(m_descriptor_table, uint64_t(m_size) * sizeof(Descriptor));
    auto available = m_memory->try_slice(m_available_ring, ring_header_size + m_size * available_element_size + 2);
    auto used = m_memory->try_slice(m_used_ring, ring_header_size + m_size * used_element_size + 2);
    if (!descriptors || !available || !used)
        return fmt::format("queue areas {:#x}, {:#x}, {:#x} (size {}) are not all in guest RAM", m_descriptor_table, m_available_ring, m_used_ring, m_size);
    m_descriptors = *descriptors;
    m_available = *available;
    m_used = *used;
    m_event_index = (negotiated_features & feature::ring_event_index) != 0;
    m_indirect = (negotiated_features & feature::ring_indirect_descriptors) != 0;
    m_next_available = 0;
    m_next_used = 0;
    m_signalled_used = 0;
    m_notifications_suppressed = false;
    m_ready = true;
    return std::nullopt;
}

uint16_t Virtqueue::load_available_index() const
{
    return load_u16(m_available, 2);
}

bool Virtqueue::has_available() const
{
    return m_ready && load_available_index() != m_next_available;
}

PopResult Virtqueue::pop(DescriptorChain& chain)
{
    chain.clear();
    if (!m_ready)
        return PopResult::Empty;
    // The acquire load orders the reads of the ring and descriptors after it.
    uint16_t const available_index = load_available_index();
    uint16_t const pending = available_index - m_next_available;
    if (pending == 0)
        return PopResult::Empty;
    if (pending > m_size) {
        m_last_error = fmt::format("available index moved by {}, more than the queue size {}", pending, m_size);
        return PopResult::BrokenQueue;
    }
    uint16_t head = 0;
    std::memcpy(&head, m_available.data() + ring_header_size + (m_next_available % m_size) * available_element_size, sizeof(head));
    ++m_next_available;
    if (head >= m_size) {
        m_last_error = fmt::format("available ring names descriptor {} of a queue of {}", head, m_size);
        return PopResult::BrokenQueue;
    }
    chain.head = head;
    return walk(head, chain);
}

PopResult Virtqueue::invalid_chain(std::string message)
{
    m_last_error = std::move(message);
    return PopResult::InvalidChain;
}

PopResult Virtqueue::walk(uint16_t head, DescriptorChain& chain)
{
    std::span<uint8_t> table = m_descriptors;
    uint32_t table_size = m_size;
    uint32_t index = head;
    // A chain visits each descriptor of its table at most once; more steps mean a loop.
    uint32_t budget = table_size;
    bool in_indirect_table = false;
    for (;;) {
        if (budget-- == 0)
            return invalid_chain(fmt::format("descriptor chain from {} loops or exceeds its table of {}", head, table_size));
        Descriptor descriptor;
        std::memcpy(&descriptor, table.data() + index * sizeof(Descriptor), sizeof(Descriptor));

        if (descriptor.flags & descriptor_flag::indirect) {
            if (!m_indirect)
                return invalid_chain("indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC");
            if (in_indirect_table || index != head || (descriptor.flags & descriptor_flag::next))
                return invalid_chain("indirect descriptor inside a chain or an indirect table");
            if (descriptor.length == 0 || descriptor.length % sizeof(Descriptor) != 0
                || descriptor.length / sizeof(Descriptor) > max_indirect_descriptors)
                return invalid_chain(fmt::format("indirect table length {} is not 1 to {} descriptors", descriptor.length, max_indirect_descriptors));
            auto indirect_table = m_memory->try_slice(descriptor.address, descriptor.length);
            if (!indirect_table)
                return invalid_chain(fmt::format("indirect table [{:#x}, +{:#x}) is outside guest RAM", descriptor.address, descriptor.length));
            table = *indirect_table;
            table_size = descriptor.length / sizeof(Descriptor);
            budget = table_size;
            index = 0;
            in_indirect_table = true;
            continue;
        }

        auto buffer = m_memory->try_slice(descriptor.address, descriptor.length);
        if (!buffer)
            return invalid_chain(fmt::format("buffer [{:#x}, +{:#x}) is outside guest RAM", descriptor.address, descriptor.length));
        if (descriptor.flags & descriptor_flag::write) {
            chain.writable.push_back(*buffer);
            chain.writable_length += descriptor.length;
        } else {
            if (!chain.writable.empty())
                return invalid_chain("device-readable buffer after a device-writable one");
            chain.readable.push_back(*buffer);
            chain.readable_length += descriptor.length;
        }

        if (!(descriptor.flags & descriptor_flag::next))
            return PopResult::Chain;
        index = descriptor.next;
        if (index >= table_size)
            return invalid_chain(fmt::format("descriptor {} is past the end of a table of {}", index, table_size));
    }
}

void Virtqueue::push_used(uint16_t head, uint32_t length)
{
    if (!m_ready)
        return;
    uint32_t const element[2] = { head, length };
    std::memcpy(m_used.data() + ring_header_size + (m_next_used % m_size) * used_element_size, element, sizeof(element));
    ++m_next_used;
    // The release store publishes the element before the index that covers it.
    store_u16(m_used, 2, m_next_used);
}

bool Virtqueue::publish_available_event()
{
    if (!m_ready || !m_event_index)
        return false;
    if (m_notifications_suppressed) {
        // need_event(event, new, old) holds only when the driver moves its
        // index from at most `event` to past it; one behind what was popped
        // it never does (the device pops before the index can wrap).
        store_u16(m_used, ring_header_size + m_size * used_element_size, static_cast<uint16_t>(m_next_available - 1));
        return false;
    }
    store_u16(m_used, ring_header_size + m_size * used_element_size, m_next_available);
    // The driver reads the event after writing its index; we write the event
    // before reading the index. Only a full barrier orders both sides.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return load_available_index() != m_next_available;
}

bool Virtqueue::set_driver_notifications(DriverNotifications wanted)
{
    if (!m_ready)
        return false;
    m_notifications_suppressed = wanted == DriverNotifications::Suppressed;
    if (!m_event_index)
        store_u16(m_used, 0, m_notifications_suppressed ? used_flag_no_notify : 0);
    if (m_notifications_suppressed) {
        publish_available_event();
        return false;
    }
    if (m_event_index)
        return publish_available_event();
    // As in publish_available_event(): the flag before the index, on both sides.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return load_available_index() != m_next_available;
}

bool Virtqueue::request_notification_beyond_available()
{
    if (!m_ready)
        return false;
    uint16_t const seen = load_available_index();
    if (m_event_index)
        store_u16(m_used, ring_header_size + m_size * used_element_size, seen);
    // As in publish_available_event(): the event before the index, on both sides.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return load_available_index() != seen;
}

bool Virtqueue::needs_interrupt()
{
    if (!m_ready)
        return false;
    // Order the used index store before the read of the driver's wishes.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    uint16_t const old_used = m_signalled_used;
    m_signalled_used = m_next_used;
    if (old_used == m_next_used)
        return false;
    if (m_event_index) {
        uint16_t const used_event = load_u16(m_available, ring_header_size + m_size * available_element_size);
        return need_event(used_event, m_next_used, old_used);
    }
    return !(load_u16(m_available, 0) & available_flag_no_interrupt);
}

}
