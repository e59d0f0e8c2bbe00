#pragma once

// What the machine needs to add virtio devices: one factory per device type,
// each returning the MMIO transport to put on the MMIO bus at mmio_base.

#include "common/EventLoop.h"
#include "common/Terminal.h"
#include "vmm/devices/ConsoleOutput.h"
#include "vmm/devices/virtio/DiskOptions.h"
#include "vmm/devices/virtio/NetOptions.h"
#include "vmm/devices/Device.h"
#include "vmm/kvm/VirtualMachine.h"
#include "vmm/memory/GuestMemory.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace vmm::virtio {

class ConsoleDevice;
class MmioTransport;
class QueueThreads;

struct DeviceContext {
    GuestMemory const& memory;
    kvm::VirtualMachine& vm; // For the interrupt line (KVM_IRQ_LINE or an irqfd) and the ioeventfds.
    EventLoop& io_loop;      // The VMM's I/O thread: device work runs there, not on vCPU threads.
    uint64_t mmio_base;      // This device's 4 KiB slot.
    uint32_t irq;            // Its IOAPIC pin (edge-triggered: each interrupt is a pulse).
    uint32_t vcpu_count;     // The machine's vCPUs: a multiqueue device offers one queue per vCPU.
    // Where a device's later queues get threads of their own (the machine
    // starts them); nullptr serves every queue on io_loop.
    QueueThreads* queue_threads;
};

// A virtio-blk device on `disk` with one queue per vCPU (at most
// BlockDevice::max_queue_count), queue 0 served on io_loop and each later
// one on a thread of its own from context.queue_threads (all on io_loop
// when the device polls); the image is opened and locked now, so a bad
// path or an image in use fails here with one clear Error.
std::shared_ptr<Device> create_block_device(DeviceContext const& context, DiskOptions const& disk);

// A virtio-net device (eth0) on the TAP of `options`: vhost-net where the
// host has it (and VMM_NET_BACKEND=user does not say otherwise), the I/O thread otherwise.
std::shared_ptr<Device> create_net_device(DeviceContext const& context, NetOptions const& options);

// The virtio console (hvc0): the machine puts transport() on the MMIO bus
// and feeds host input (stdin) through queue_input() from any thread.
class VirtioConsole {
public:
    VirtioConsole(std::shared_ptr<MmioTransport> transport, std::shared_ptr<ConsoleDevice> device);

    std::shared_ptr<Device> transport() const;
    void queue_input(std::span<uint8_t const> bytes);
    size_t pending_input() const;
    // Called (on the I/O thread) whenever the guest has taken all of the queued input.
    void set_input_taken_callback(std::function<void()> callback);
    // Any thread: the host terminal's new size, announced to the driver (hvc0 follows it).
    void resize(WindowSize size);

private:
    std::shared_ptr<MmioTransport> m_transport;
    std::shared_ptr<ConsoleDevice> m_device;
};

// Guest output goes to `output` (stdout), shared with the 8250.
std::shared_ptr<VirtioConsole> create_console_device(DeviceContext const& context, std::shared_ptr<ConsoleOutput> output);

// "virtio_mmio.device=4K@0x...:IRQ", the kernel argument that announces a device.
std::string kernel_cmdline_entry(uint64_t mmio_base, uint32_t irq);

}
