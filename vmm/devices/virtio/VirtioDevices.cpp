#include "vmm/devices/virtio/VirtioDevices.h"

#include "common/Error.h"
#include "vmm/devices/virtio/BlockDevice.h"
#include "vmm/devices/virtio/ConsoleDevice.h"
#include "vmm/devices/virtio/InterruptLine.h"
#include "vmm/devices/virtio/MmioTransport.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace vmm::virtio {

namespace {

// Wires a device's transport to KVM (irqfd, ioeventfd) and to the I/O thread.
std::shared_ptr<MmioTransport> attach(DeviceContext const& context, std::shared_ptr<VirtioDevice> device)
{
    auto interrupt = std::make_unique<EventFdInterrupt>();
    context.vm.register_irqfd(interrupt->fd(), context.irq);
    auto transport = std::make_shared<MmioTransport>(context.memory, std::move(device), std::move(interrupt));
    try {
        context.vm.register_ioeventfd(transport->notify_fd(), context.mmio_base + MmioTransport::queue_notify_offset, 4, kvm::IoEventSpace::Mmio);
    } catch (Error const& error) {
        // Notifications then exit to the vCPU thread, which forwards them to the same eventfd.
        spdlog::warn("{}: no ioeventfd ({}); queue notifications take the slow path", transport->name(), error.what());
    }
    std::weak_ptr<MmioTransport> weak = transport;
    context.io_loop.add(transport->notify_fd(), [weak](uint32_t) {
        if (auto transport = weak.lock())
            transport->handle_notify_event();
    });
    return transport;
}

}

std::shared_ptr<Device> create_block_device(DeviceContext const& context, DiskOptions const& disk)
{
    auto access = disk.access == DiskAccess::ReadOnly ? BlockAccess::ReadOnly : BlockAccess::ReadWrite;
    auto device = BlockDevice::open(disk.path, access);
    device->set_backend(select_block_backend(device->image_fd(), device->name()));
    return attach(context, std::move(device));
}

VirtioConsole::VirtioConsole(std::shared_ptr<MmioTransport> transport, std::shared_ptr<ConsoleDevice> device)
    : m_transport(std::move(transport))
    , m_device(std::move(device))
{
}

std::shared_ptr<Device> VirtioConsole::transport() const
{
    return m_transport;
}

void VirtioConsole::queue_input(std::span<uint8_t const> bytes)
{
    m_device->queue_input(bytes);
    m_transport->kick();
}

std::shared_ptr<VirtioConsole> create_console_device(DeviceContext const& context, std::shared_ptr<ConsoleOutput> output)
{
    auto device = std::make_shared<ConsoleDevice>(std::move(output));
    return std::make_shared<VirtioConsole>(attach(context, device), device);
}

std::string kernel_cmdline_entry(uint64_t mmio_base, uint32_t irq)
{
    return fmt::format("virtio_mmio.device=4K@{:#x}:{}", mmio_base, irq);
}

}
