#pragma once

#include "vmm/devices/RateLimitedLog.h"
#include "vmm/devices/virtio/NetBackend.h"
#include "vmm/devices/virtio/VhostNet.h"
#include "vmm/devices/virtio/VirtioDevice.h"

#include <array>
#include <atomic>
#include <memory>
#include <sys/uio.h>
#include <vector>

namespace vmm::virtio {

using MacAddress = std::array<uint8_t, 6>;

// virtio-net (virtio-v1.1 section 5.1): one receive and one transmit queue
// over a NetBackend (a TAP). It offers the MAC address, the MTU, the link
// status (always up), mergeable receive buffers, and checksum and TSO
// offloads in both directions, which it passes on to the TAP as TUNSETOFFLOAD.
//
// Frames move either in the host kernel (vhost-net, when given one: it
// serves both rings and interrupts the guest through the irqfd), or here, on
// the I/O thread: a frame read from the backend waits in a buffer of the
// device until the guest has given receive buffers enough for it (the
// backend keeps the rest, and drops what overflows it, as a NIC would), and
// each transmit chain goes out with one writev().
class NetDevice final : public VirtioDevice {
public:
    static constexpr uint16_t receive_queue = 0;
    static constexpr uint16_t transmit_queue = 1;
    // struct virtio_net_hdr_v1, in front of every frame on both queues.
    static constexpr size_t header_size = 12;
    // A 64 KiB TSO frame with its Ethernet and VLAN headers, and the virtio header.
    static constexpr size_t frame_size_max = header_size + 14 + 4 + 65535;
    // Frames one pass moves in each direction before it lets the I/O thread do other work.
    static constexpr uint32_t frames_per_pass = 256;

    // Feature bits of virtio-net (section 5.1.3).
    enum Feature : uint64_t {
        Checksum = 1ull << 0,       // VIRTIO_NET_F_CSUM: the guest may send partial checksums.
        GuestChecksum = 1ull << 1,  // VIRTIO_NET_F_GUEST_CSUM: the guest takes partial checksums.
        Mtu = 1ull << 3,
        Mac = 1ull << 5,
        GuestTso4 = 1ull << 7,
        GuestTso6 = 1ull << 8,
        HostTso4 = 1ull << 11,
        HostTso6 = 1ull << 12,
        MergeableReceiveBuffers = 1ull << 15,
        Status = 1ull << 16,
    };
    // struct virtio_net_hdr_v1's flags and gso_type.
    static constexpr uint8_t header_needs_checksum = 1;
    static constexpr uint8_t header_data_valid = 2;
    enum GsoType : uint8_t {
        GsoNone = 0,
        GsoTcp4 = 1,
        GsoUdp = 3,
        GsoTcp6 = 4,
        GsoEcn = 0x80,
    };

    struct Counters {
        uint64_t received { 0 };    // Frames given to the guest.
        uint64_t transmitted { 0 }; // Frames written to the backend.
        uint64_t dropped { 0 };     // In either direction.
    };

    // Without `vhost`, frames move on the I/O thread.
    NetDevice(std::shared_ptr<NetBackend> backend, MacAddress mac, uint16_t mtu, std::unique_ptr<VhostNet> vhost = nullptr);
    ~NetDevice() override;

    std::string name() const override { return "net " + m_backend->name(); }
    DeviceType type() const override { return DeviceType::Network; }
    uint64_t features() const override;
    uint16_t queue_count() const override { return 2; }
    std::span<uint8_t const> configuration() const override { return m_configuration; }
    QueueHealth process_queue(uint16_t index, Virtqueue& queue) override;
    void reset() override;
    std::optional<std::string> activate(uint64_t features, std::span<Virtqueue const> queues) override;
    bool queues_served_elsewhere() const override { return m_vhost_active; }

    NetBackend& backend() { return *m_backend; }
    VhostNet* vhost() { return m_vhost.get(); }
    // I/O thread: the backend's fd became readable (it is watched edge-triggered).
    void note_backend_readable() { m_backend_readable.store(true); }
    Counters counters() const { return m_counters; }

    // The TUN_F_* offloads that the guest's `features` allow.
    static uint32_t tun_offloads(uint64_t features);

private:
    enum class Delivery {
        Delivered, // Or dropped: either way the frame is gone.
        NoBuffers, // The guest has too few receive buffers for it now.
        Broken,
    };

    enum class ReadResult {
        Frame,   // m_frame holds one.
        Dropped, // The backend gave something that is not a frame.
        Empty,   // The backend has nothing now.
    };

    QueueHealth receive(Virtqueue& queue);
    QueueHealth transmit(Virtqueue& queue);
    // Reads the next frame into m_frame.
    ReadResult read_frame();
    Delivery deliver_frame(Virtqueue& queue);
    // Copies m_frame into m_chains[0, count) and returns them to the driver.
    void copy_and_push(Virtqueue& queue, size_t count);
    bool transmit_chain(DescriptorChain const& chain);

    std::shared_ptr<NetBackend> m_backend;
    std::unique_ptr<VhostNet> m_vhost;
    bool m_vhost_active { false };
    // struct virtio_net_config: mac, status, max_virtqueue_pairs, mtu.
    std::array<uint8_t, 12> m_configuration {};
    uint64_t m_features { 0 }; // Negotiated.

    std::vector<uint8_t> m_frame;
    size_t m_frame_length { 0 }; // Nonzero while a frame waits for buffers.
    std::atomic<bool> m_backend_readable { true };
    std::vector<DescriptorChain> m_chains; // Receive buffers collected for one frame.
    std::vector<uint16_t> m_invalid_heads; // Malformed chains met while collecting them.
    DescriptorChain m_transmit_chain;
    std::vector<iovec> m_iovecs;
    Counters m_counters;
    RateLimitedLog m_log;
};

}
