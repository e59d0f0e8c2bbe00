#pragma once

#include "vmm/devices/virtio/Virtio.h"
#include "vmm/devices/virtio/Virtqueue.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace vmm::virtio {

// What a virtio device type (block, console) implements; the transport does
// the rest: registers, feature negotiation, status, queues, interrupts.
// Every call comes with the transport's lock held, so a device needs no lock
// for state only these calls touch.
class VirtioDevice {
public:
    virtual ~VirtioDevice() = default;

    virtual std::string name() const = 0;
    virtual DeviceType type() const = 0;
    // The device's feature bits; the transport adds VIRTIO_F_VERSION_1.
    virtual uint64_t features() const = 0;
    virtual uint16_t queue_count() const = 0;
    // The device configuration space (section 5.x.4); reads past its end see zeros.
    virtual std::span<uint8_t const> configuration() const = 0;

    // Called on the I/O thread when queue `index` may have work: pop, serve
    // and push used elements. Broken means the ring is corrupt.
    virtual QueueHealth process_queue(uint16_t index, Virtqueue& queue) = 0;
    // The driver reset the device (status 0). Returns once the device no
    // longer touches the queues' memory.
    virtual void reset() { }

    // The driver set DRIVER_OK: `features` are negotiated and the ready ones
    // of `queues` configured. A device whose backend needs either (TAP
    // offloads, vhost's rings) sets it up here; an error message makes the
    // transport mark the device DEVICE_NEEDS_RESET.
    virtual std::optional<std::string> activate(uint64_t features, std::span<Virtqueue const> queues)
    {
        (void)features;
        (void)queues;
        return std::nullopt;
    }

    // True while something outside vmm (vhost in the host kernel) serves the
    // queues and interrupts the guest directly through the irqfd: the
    // transport cannot know when it used buffers, so its interrupt status
    // always shows the used-buffer bit (the driver then checks every queue,
    // as after any interrupt).
    virtual bool queues_served_elsewhere() const { return false; }

    // What the device did, in a few words for -v at exit (requests, bytes,
    // host system calls); empty for a device that does not count.
    virtual std::string statistics() const { return {}; }
};

}
