#pragma once

#include "vmm/memory/GuestMemory.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace vmm::virtio {

// The buffers of one request the driver made available, resolved to host
// memory and checked against guest RAM: device-readable ones first, then
// device-writable ones, as the specification orders them.
struct DescriptorChain {
    uint16_t head { 0 };
    std::vector<std::span<uint8_t>> readable;
    std::vector<std::span<uint8_t>> writable;
    uint64_t readable_length { 0 };
    uint64_t writable_length { 0 };

    void clear();
};

enum class PopResult {
    Chain,        // `chain` holds a request.
    Empty,        // The driver has nothing more available.
    InvalidChain, // The request is malformed: return chain.head with length 0.
    BrokenQueue,  // The ring itself is corrupt: the device needs a reset.
};

// Whether the driver should notify the device when it makes buffers
// available: not while the device polls the available ring.
enum class DriverNotifications {
    Wanted,
    Suppressed,
};

enum class QueueHealth {
    Healthy,
    Broken,
    MoreWork, // Healthy, but the device stopped early to let other work run: call again.
};

// A split virtqueue (virtio-v1.1 section 2.6) in guest memory. The transport
// configures it through its registers and validates it when the driver sets
// QueueReady; the device then pops chains and pushes used elements. Every
// guest-supplied index, address and length is checked; nothing the guest
// writes can make a walk read outside guest RAM or loop forever. Not
// thread-safe: the transport serialises access.
class Virtqueue {
public:
    // Indirect tables longer than this are refused (Linux uses at most SEG_MAX + 2 entries).
    static constexpr uint32_t max_indirect_descriptors = 1024;

    explicit Virtqueue(GuestMemory const& memory)
        : m_memory(&memory)
    {
    }

    // Registers the driver writes before QueueReady.
    uint16_t size() const { return m_size; }
    void set_size(uint16_t size) { m_size = size; }
    GuestAddress descriptor_table() const { return m_descriptor_table; }
    GuestAddress available_ring() const { return m_available_ring; }
    GuestAddress used_ring() const { return m_used_ring; }
    void set_descriptor_table(GuestAddress address) { m_descriptor_table = address; }
    void set_available_ring(GuestAddress address) { m_available_ring = address; }
    void set_used_ring(GuestAddress address) { m_used_ring = address; }

    // Checks size, alignment and placement and, if they are sound, makes the
    // queue ready. Returns an error message otherwise.
    std::optional<std::string> enable(uint64_t negotiated_features);
    void disable() { m_ready = false; }
    bool is_ready() const { return m_ready; }

    // Back to the state after a device reset (size max, addresses 0, not ready).
    void reset();

    // Takes the next available chain into `chain`. After InvalidChain or
    // BrokenQueue, last_error() says why.
    PopResult pop(DescriptorChain& chain);
    // Returns a request to the driver with `length` bytes written into its writable buffers.
    void push_used(uint16_t head, uint32_t length);
    // Gives back the last `count` chains pop() returned and nothing pushed:
    // the next pop() returns them again (a receive queue whose buffers are
    // too few for the frame at hand keeps them for when more arrive).
    void unpop(uint16_t count) { m_next_available = static_cast<uint16_t>(m_next_available - count); }

    // With VIRTIO_RING_F_EVENT_IDX, tells the driver to notify for anything
    // after what was popped; then reports whether more arrived meanwhile (so
    // that the caller pops again instead of missing it).
    bool publish_available_event();
    // For a device that waits for more buffers than the driver has made
    // available (a receive queue short of room for a frame): with
    // VIRTIO_RING_F_EVENT_IDX, asks the driver to notify once it makes
    // available anything beyond what it has now. Reports whether it already
    // has, so that the caller tries again instead of waiting.
    bool request_notification_beyond_available();
    // While the device polls the available ring, tells the driver that it
    // need not notify (VIRTQ_USED_F_NO_NOTIFY, or with
    // VIRTIO_RING_F_EVENT_IDX an available event behind what was popped,
    // which a driver never crosses); publish_available_event() then keeps
    // it so. Wanted undoes it and, like publish_available_event(), reports
    // whether more arrived before the driver could see the change.
    bool set_driver_notifications(DriverNotifications wanted);
    bool driver_notifications_suppressed() const { return m_notifications_suppressed; }
    // Whether the driver wants an interrupt for what was pushed since the last call.
    bool needs_interrupt();

    bool has_available() const;

    // The host addresses of the three areas of a ready queue, for a backend
    // that serves the ring outside vmm (vhost).
    struct HostAreas {
        void* descriptors;
        void* available;
        void* used;
    };
    HostAreas host_areas() const { return { m_descriptors.data(), m_available.data(), m_used.data() }; }
    std::string const& last_error() const { return m_last_error; }

    // Pops and serves every available chain, returning each with the length
    // `handler(chain)` returns; malformed chains are returned with length 0.
    template<typename Handler>
    QueueHealth drain(DescriptorChain& chain, Handler&& handler)
    {
        do {
            for (;;) {
                auto result = pop(chain);
                if (result == PopResult::Empty)
                    break;
                if (result == PopResult::BrokenQueue)
                    return QueueHealth::Broken;
                uint32_t const length = result == PopResult::Chain ? handler(chain) : 0;
                push_used(chain.head, length);
            }
        } while (publish_available_event());
        return QueueHealth::Healthy;
    }

private:
    struct Descriptor {
        uint64_t address;
        uint32_t length;
        uint16_t flags;
        uint16_t next;
    };
    static_assert(sizeof(Descriptor) == 16);

    PopResult walk(uint16_t head, DescriptorChain& chain);
    PopResult invalid_chain(std::string message);
    uint16_t load_available_index() const;

    GuestMemory const* m_memory;
    uint16_t m_size { 0 };
    GuestAddress m_descriptor_table { 0 };
    GuestAddress m_available_ring { 0 };
    GuestAddress m_used_ring { 0 };
    bool m_ready { false };
    bool m_event_index { false };
    bool m_indirect { false };
    bool m_notifications_suppressed { false };

    // Host views of the three areas, fixed when the queue is enabled.
    std::span<uint8_t> m_descriptors;
    std::span<uint8_t> m_available;
    std::span<uint8_t> m_used;

    uint16_t m_next_available { 0 };
    uint16_t m_next_used { 0 };
    uint16_t m_signalled_used { 0 };
    std::string m_last_error;
};

// Copies the first `out.size()` bytes of the concatenated `buffers` (a
// chain's readable part, e.g. a request header split over descriptors);
// returns how many there were.
inline size_t gather(std::vector<std::span<uint8_t>> const& buffers, std::span<uint8_t> out)
{
    size_t done = 0;
    for (auto buffer : buffers) {
        size_t const piece = std::min(buffer.size(), out.size() - done);
        std::memcpy(out.data() + done, buffer.data(), piece);
        done += piece;
        if (done == out.size())
            break;
    }
    return done;
}

}
