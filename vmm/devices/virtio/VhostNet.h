#pragma once

#include "common/FileDescriptor.h"
#include "vmm/devices/virtio/Virtio.h"
#include "vmm/devices/virtio/Virtqueue.h"
#include "vmm/memory/GuestMemory.h"

#include <array>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace vmm::virtio {

// vhost-net (/dev/vhost-net): the host kernel serves virtio-net's two rings
// itself, moving frames between guest memory and the TAP without vmm. vmm
// makes itself the owner, gives it the guest memory table once, and at
// DRIVER_OK the negotiated features and the rings; the guest's queue
// notifications reach vhost through KVM ioeventfds on eventfds of this
// class (kick_fd()), and vhost interrupts the guest through the device's irqfd.
class VhostNet {
public:
    // The ring features vhost implements itself (the others are the TAP's offloads).
    static constexpr uint64_t ring_features = feature::ring_indirect_descriptors | feature::ring_event_index | feature::version_1
        | (1ull << 15) /* VIRTIO_NET_F_MRG_RXBUF */;
    static constexpr uint16_t queue_count = 2;

    // Opens /dev/vhost-net, early (before --jail hides it); an invalid
    // descriptor where the host has none or VMM_NET_BACKEND=user asks for
    // the user-space path (VMM_NET_BACKEND=vhost makes its absence an
    // Error). Says which and why under -v.
    static FileDescriptor open_device();
    // Sets up an open /dev/vhost-net for `memory`, interrupting through
    // `call_fd` (an irqfd); throws an Error naming the ioctl that failed.
    VhostNet(FileDescriptor device, GuestMemory const& memory, int call_fd);
    ~VhostNet();

    uint64_t supported_features() const { return m_features; }
    // Register this as a KVM ioeventfd on QueueNotify, matching the value `queue`.
    int kick_fd(uint16_t queue) const { return m_kicks[queue].get(); }

    // Hands the rings of `queues` (both ready) and `backend_fd` (the TAP) to vhost.
    std::optional<std::string> start(uint64_t features, std::span<Virtqueue const> queues, int backend_fd);
    // Takes the backend away: vhost stops touching the rings before this returns.
    void stop();

private:
    FileDescriptor m_device;
    FileDescriptor m_call;
    std::array<FileDescriptor, queue_count> m_kicks;
    uint64_t m_features { 0 };
    bool m_started { false };
};

}
