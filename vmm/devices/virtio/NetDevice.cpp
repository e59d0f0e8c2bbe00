#include "vmm/devices/virtio/NetDevice.h"

#include "vmm/devices/virtio/VhostNet.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <linux/if_tun.h>
#include <unistd.h>

namespace vmm::virtio {

namespace {

// Offsets in struct virtio_net_config and struct virtio_net_hdr_v1.
namespace config {
constexpr size_t mac = 0;
constexpr size_t status = 6;
constexpr size_t max_virtqueue_pairs = 8;
constexpr size_t mtu = 10;
}
namespace header {
constexpr size_t flags = 0;
constexpr size_t gso_type = 1;
constexpr size_t num_buffers = 10;
}
constexpr uint16_t link_up = 1; // VIRTIO_NET_S_LINK_UP

void put_u16(std::span<uint8_t> bytes, size_t offset, uint16_t value)
{
    std::memcpy(bytes.data() + offset, &value, sizeof(value));
}

}

NetDevice::NetDevice(std::shared_ptr<NetBackend> backend, MacAddress mac, uint16_t mtu, std::unique_ptr<VhostNet> vhost)
    : m_backend(std::move(backend))
    , m_vhost(std::move(vhost))
    , m_frame(frame_size_max)
{
    std::memcpy(m_configuration.data() + config::mac, mac.data(), mac.size());
    put_u16(m_configuration, config::status, link_up);
    put_u16(m_configuration, config::max_virtqueue_pairs, 1);
    put_u16(m_configuration, config::mtu, mtu);
    m_iovecs.reserve(64);
}

NetDevice::~NetDevice() = default;

uint64_t NetDevice::features() const
{
    uint64_t features = feature::ring_event_index | feature::ring_indirect_descriptors | Checksum | GuestChecksum | Mtu | Mac
        | GuestTso4 | GuestTso6 | HostTso4 | HostTso6 | MergeableReceiveBuffers | Status;
    // vhost serves the rings: only the ring features it implements.
    if (m_vhost)
        features &= m_vhost->supported_features() | ~VhostNet::ring_features;
    return features;
}

uint32_t NetDevice::tun_offloads(uint64_t features)
{
    uint32_t offloads = 0;
    // Segmentation offloads depend on the checksum one (section 5.1.3.1).
    if (features & GuestChecksum) {
        offloads |= TUN_F_CSUM;
        if (features & GuestTso4)
            offloads |= TUN_F_TSO4;
        if (features & GuestTso6)
            offloads |= TUN_F_TSO6;
    }
    return offloads;
}

std::optional<std::string> NetDevice::activate(uint64_t features, std::span<Virtqueue const> queues)
{
    m_features = features;
    if (auto error = m_backend->set_offloads(tun_offloads(features)))
        return error;
    if (m_vhost) {
        if (auto error = m_vhost->start(features, queues, m_backend->fd()))
            return error;
        m_vhost_active = true;
    }
    return std::nullopt;
}

void NetDevice::reset()
{
    if (m_vhost_active)
        m_vhost->stop();
    m_vhost_active = false;
    m_features = 0;
    m_frame_length = 0; // A frame that waited for buffers is dropped with them.
}

QueueHealth NetDevice::process_queue(uint16_t index, Virtqueue& queue)
{
    if (m_vhost_active)
        return QueueHealth::Healthy;
    return index == receive_queue ? receive(queue) : transmit(queue);
}

NetDevice::ReadResult NetDevice::read_frame()
{
    if (!m_backend_readable.load())
        return ReadResult::Empty;
    ssize_t length = -1;
    do {
        length = ::read(m_backend->fd(), m_frame.data(), m_frame.size());
    } while (length < 0 && errno == EINTR);
    if (length <= 0) {
        if (length < 0 && errno != EAGAIN)
            m_log.warn("{}: read: {}", name(), std::strerror(errno));
        // Watched edge-triggered: the next frame sets it again.
        m_backend_readable.store(false);
        return ReadResult::Empty;
    }
    if (static_cast<size_t>(length) <= header_size) {
        m_log.debug("{}: a frame of {} bytes from the backend is no longer than its header", name(), length);
        ++m_counters.dropped;
        return ReadResult::Dropped;
    }
    m_frame_length = static_cast<size_t>(length);
    return ReadResult::Frame;
}

QueueHealth NetDevice::receive(Virtqueue& queue)
{
    // No notifications are asked for while frames find buffers: the driver
    // refills the ring as it takes them, and only a frame that waits for
    // buffers needs to hear of new ones.
    for (uint32_t frames = 0; frames < frames_per_pass; ++frames) {
        if (m_frame_length == 0) {
            auto const read = read_frame();
            if (read == ReadResult::Empty)
                return QueueHealth::Healthy;
            if (read == ReadResult::Dropped)
                continue;
        }
        auto const delivery = deliver_frame(queue);
        if (delivery == Delivery::Broken)
            return QueueHealth::Broken;
        if (delivery == Delivery::NoBuffers && !queue.request_notification_beyond_available())
            return QueueHealth::Healthy;
    }
    return QueueHealth::MoreWork;
}

NetDevice::Delivery NetDevice::deliver_frame(Virtqueue& queue)
{
    bool const mergeable = (m_features & MergeableReceiveBuffers) != 0;
    m_invalid_heads.clear();
    size_t count = 0;
    uint16_t popped = 0;
    uint64_t room = 0;
    // Mergeable: as many buffers as the frame needs. Otherwise: one chain must hold it all.
    while (room < m_frame_length && (mergeable || count == 0)) {
        if (m_chains.size() == count)
            m_chains.emplace_back();
        auto& chain = m_chains[count];
        auto const result = queue.pop(chain);
        if (result == PopResult::Empty) {
            queue.unpop(popped);
            return Delivery::NoBuffers;
        }
        if (result == PopResult::BrokenQueue)
            return Delivery::Broken;
        ++popped;
        if (result == PopResult::InvalidChain || chain.writable_length == 0 || chain.readable_length != 0) {
            m_log.debug("{}: receive buffer {}: {}", name(), chain.head,
                result == PopResult::InvalidChain ? queue.last_error() : "not a device-writable buffer");
            m_invalid_heads.push_back(chain.head);
            continue;
        }
        room += chain.writable_length;
        ++count;
    }
    for (uint16_t head : m_invalid_heads)
        queue.push_used(head, 0);
    if (room < m_frame_length) {
        // A buffer too small for this frame stays for the next one.
        m_log.debug("{}: a frame of {} bytes does not fit the receive buffer of {} bytes; dropped", name(), m_frame_length - header_size, room);
        queue.unpop(static_cast<uint16_t>(count));
        ++m_counters.dropped;
        m_frame_length = 0;
        return Delivery::Delivered;
    }
    copy_and_push(queue, count);
    ++m_counters.received;
    m_frame_length = 0;
    return Delivery::Delivered;
}

void NetDevice::copy_and_push(Virtqueue& queue, size_t count)
{
    std::span<uint8_t> frame(m_frame.data(), m_frame_length);
    // The TAP leaves num_buffers alone; without mergeable buffers it is 1 (section 5.1.6.4).
    put_u16(frame, header::num_buffers, static_cast<uint16_t>(count));
    if (!(m_features & GuestChecksum))
        frame[header::flags] = 0;
    size_t offset = 0;
    for (size_t index = 0; index < count; ++index) {
        auto const& chain = m_chains[index];
        uint32_t written = 0;
        for (auto buffer : chain.writable) {
            size_t const piece = std::min(buffer.size(), frame.size() - offset);
            std::memcpy(buffer.data(), frame.data() + offset, piece);
            offset += piece;
            written += static_cast<uint32_t>(piece);
            if (offset == frame.size())
                break;
        }
        queue.push_used(chain.head, written);
    }
}

QueueHealth NetDevice::transmit(Virtqueue& queue)
{
    uint32_t frames = 0;
    do {
        for (;;) {
            if (frames == frames_per_pass)
                return QueueHealth::MoreWork;
            auto const result = queue.pop(m_transmit_chain);
            if (result == PopResult::Empty)
                break;
            if (result == PopResult::BrokenQueue)
                return QueueHealth::Broken;
            if (result == PopResult::InvalidChain) {
                m_log.debug("{}: transmit chain {}: {}", name(), m_transmit_chain.head, queue.last_error());
                ++m_counters.dropped;
            } else if (transmit_chain(m_transmit_chain)) {
                ++m_counters.transmitted;
            } else {
                ++m_counters.dropped;
            }
            queue.push_used(m_transmit_chain.head, 0);
            ++frames;
        }
    } while (queue.publish_available_event());
    return QueueHealth::Healthy;
}

bool NetDevice::transmit_chain(DescriptorChain const& chain)
{
    if (chain.readable_length <= header_size || chain.readable_length > frame_size_max) {
        m_log.debug("{}: a transmit chain of {} bytes is not a header and a frame of at most {} bytes", name(), chain.readable_length,
            frame_size_max - header_size);
        return false;
    }
    std::array<uint8_t, header_size> header {};
    gather(chain.readable, header);
    // What the driver may not ask without the feature (section 5.1.6.2), the TAP is not asked either.
    uint8_t const gso = header[header::gso_type] & ~GsoEcn;
    bool const allowed_gso = gso == GsoNone || (gso == GsoTcp4 && (m_features & HostTso4)) || (gso == GsoTcp6 && (m_features & HostTso6));
    bool const allowed_checksum = !(header[header::flags] & header_needs_checksum) || (m_features & Checksum);
    if (!allowed_gso || !allowed_checksum || (header[header::gso_type] & GsoEcn)) {
        m_log.debug("{}: a transmit header asks for offloads that were not negotiated (flags {:#x}, gso_type {:#x})", name(),
            header[header::flags], header[header::gso_type]);
        return false;
    }
    if (chain.readable.size() > IOV_MAX) {
        m_log.debug("{}: a transmit chain of {} buffers is over the {} writev takes", name(), chain.readable.size(), IOV_MAX);
        return false;
    }
    m_iovecs.clear();
    for (auto buffer : chain.readable)
        m_iovecs.push_back({ buffer.data(), buffer.size() });
    for (;;) {
        ssize_t const written = ::writev(m_backend->fd(), m_iovecs.data(), static_cast<int>(m_iovecs.size()));
        if (written >= 0)
            return true;
        if (errno == EINTR)
            continue;
        // EAGAIN: the backend is full; EIO: the interface is down. A NIC drops the frame either way.
        m_log.debug("{}: writev: {}", name(), std::strerror(errno));
        return false;
    }
}

}
