#include "vmm/devices/virtio/VirtioDevices.h"

#include "common/Error.h"
#include "vmm/devices/virtio/BlockDevice.h"
#include "vmm/devices/virtio/ConsoleDevice.h"
#include "vmm/devices/virtio/InterruptLine.h"
#include "vmm/devices/virtio/MmioTransport.h"
#include "vmm/devices/virtio/NetDevice.h"
#include "vmm/devices/virtio/QueueThreads.h"
#include "vmm/devices/virtio/TapDevice.h"
#include "vmm/devices/virtio/VhostNet.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <fcntl.h>
#include <sys/epoll.h>

namespace vmm::virtio {

namespace {

// An interrupt line the kernel raises (vhost's worker): an eventfd that KVM turns into the device's IOAPIC pin.
std::unique_ptr<EventFdInterrupt> create_irqfd_interrupt(DeviceContext const& context)
{
    auto interrupt = std::make_unique<EventFdInterrupt>();
    context.vm.register_irqfd(interrupt->fd(), context.irq);
    return interrupt;
}

// An interrupt line vmm's threads raise (the I/O thread, a queue's thread, a
// vCPU thread on an error). On x86_64 they pulse the pin with KVM_IRQ_LINE
// rather than through an irqfd, which KVM injects from a kworker there
// (LinePulseInterrupt says what that costs). arm64 keeps the irqfd (not
// measured there).
std::unique_ptr<InterruptLine> create_interrupt(DeviceContext const& context)
{
#if defined(__x86_64__)
    return std::make_unique<LinePulseInterrupt>([&vm = context.vm, irq = context.irq](bool level) { vm.set_irq_line(irq, level); });
#else
    return create_irqfd_interrupt(context);
#endif
}

enum class Notifications {
    ToTransport, // A QueueNotify of queue N signals the transport's eventfd of queue N (the I/O thread serves it).
    Elsewhere,   // The caller routes them (vhost's eventfds, one per queue).
};

enum class QueueService {
    IoThread,       // Every queue on the I/O thread.
    ThreadPerQueue, // Queue 0 on the I/O thread, every later one on a thread of its own.
};

// Makes KVM signal `fds[N]` when the driver writes N to QueueNotify (an
// ioeventfd with datamatch N), so that a notification wakes only the work
// of the queue it names. Values without an ioeventfd exit to the vCPU
// thread, whose MmioTransport::write() routes them the same way.
void register_queue_notifications(DeviceContext const& context, std::span<int const> fds)
{
    for (uint16_t queue = 0; queue < fds.size(); ++queue)
        context.vm.register_ioeventfd(fds[queue], context.mmio_base + MmioTransport::queue_notify_offset, 4, kvm::IoEventSpace::Mmio, queue);
}

// Wires a device's transport to KVM (irqfd, ioeventfds) and to the I/O thread.
std::shared_ptr<MmioTransport> attach(DeviceContext const& context, std::shared_ptr<VirtioDevice> device,
    std::unique_ptr<InterruptLine> interrupt = nullptr, Notifications notifications = Notifications::ToTransport,
    QueueService service = QueueService::IoThread)
{
    if (!interrupt)
        interrupt = create_interrupt(context);
    auto transport = std::make_shared<MmioTransport>(context.memory, std::move(device), std::move(interrupt));
    std::vector<int> fds;
    for (uint16_t queue = 0; queue < transport->queue_count(); ++queue)
        fds.push_back(transport->notify_fd(queue));
    try {
        if (notifications == Notifications::ToTransport)
            register_queue_notifications(context, fds);
    } catch (Error const& error) {
        // Notifications then exit to the vCPU thread, which forwards them to the same eventfds.
        spdlog::warn("{}: no ioeventfd ({}); queue notifications take the slow path", transport->name(), error.what());
    }
    std::weak_ptr<MmioTransport> weak = transport;
    for (uint16_t queue = 0; queue < fds.size(); ++queue) {
        bool const own_thread = service == QueueService::ThreadPerQueue && queue > 0 && context.queue_threads;
        auto& loop = own_thread ? context.queue_threads->add(fmt::format("vmm-{:x}-q{}", context.mmio_base >> 12, queue)) : context.io_loop;
        loop.add(fds[queue], [weak, queue](uint32_t) {
            if (auto transport = weak.lock())
                transport->handle_notify_event(queue);
        });
    }
    return transport;
}

}

std::shared_ptr<Device> create_block_device(DeviceContext const& context, DiskOptions const& disk)
{
    auto access = disk.access == DiskAccess::ReadOnly ? BlockAccess::ReadOnly : BlockAccess::ReadWrite;
    // One queue per vCPU, so that each vCPU submits without taking another's
    // queue lock in the guest; the notification of each queue wakes only its
    // pass. Queue 0 is served on the I/O thread and each later queue on a
    // thread of its own, rather than all on the I/O thread: with several
    // queues busy the one I/O thread (which copies every byte) is the
    // bottleneck. scripts/bench-blk's host-side driver, 2 queues from 2
    // threads, 4 KiB random reads on a 2-CPU host under load: at queue depth
    // 32 a thread per queue was ahead of one I/O thread in all of 5 runs
    // (393k-795k against 348k-530k IOPS), at depth 1 in 3 of 4 (README's
    // figures). Polling state belongs to one thread, so a polling device
    // keeps every queue on the I/O thread.
    auto const queues = disk.queues > 0 ? disk.queues : static_cast<uint16_t>(std::clamp<uint32_t>(context.vcpu_count, 1, BlockDevice::max_queue_count));
    auto device = BlockDevice::open(disk.path, access, queues);
    device->select_backends();
    auto const service = disk.poll.count() > 0 ? QueueService::IoThread : QueueService::ThreadPerQueue;
    auto transport = attach(context, std::move(device), nullptr, Notifications::ToTransport, service);
    transport->set_polling(disk.poll);
    return transport;
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

std::shared_ptr<Device> create_net_device(DeviceContext const& context, NetOptions const& options)
{
    std::unique_ptr<InterruptLine> interrupt;
    std::unique_ptr<VhostNet> vhost;
    if (options.vhost && options.vhost->is_valid()) {
        FileDescriptor device(::fcntl(options.vhost->get(), F_DUPFD_CLOEXEC, 0));
        if (!device.is_valid())
            throw_system_error("fcntl F_DUPFD_CLOEXEC", "/dev/vhost-net");
        auto irqfd = create_irqfd_interrupt(context);
        vhost = std::make_unique<VhostNet>(std::move(device), context.memory, irqfd->fd());
        interrupt = std::move(irqfd);
    } else {
        interrupt = create_interrupt(context);
    }
    std::vector<int> kicks;
    if (vhost) {
        for (uint16_t queue = 0; queue < VhostNet::queue_count; ++queue)
            kicks.push_back(vhost->kick_fd(queue));
    }
    auto device = std::make_shared<NetDevice>(options.tap, options.mac, options.mtu, std::move(vhost));
    auto transport = attach(context, device, std::move(interrupt), kicks.empty() ? Notifications::ToTransport : Notifications::Elsewhere);
    // With vhost, the notification of queue N (the value the driver writes) wakes vhost's worker for it.
    register_queue_notifications(context, kicks);
    if (kicks.empty()) {
        // Frames from the TAP wake the I/O thread; edge-triggered, since a
        // frame may wait there until the guest gives buffers.
        std::weak_ptr<MmioTransport> weak_transport = transport;
        std::weak_ptr<NetDevice> weak_device = device;
        context.io_loop.add(options.tap->fd(), [weak_transport, weak_device](uint32_t) {
            auto transport = weak_transport.lock();
            auto device = weak_device.lock();
            if (!transport || !device)
                return;
            device->note_backend_readable();
            transport->process_queues();
        }, EPOLLIN | EPOLLET);
    }
    return transport;
}

size_t VirtioConsole::pending_input() const
{
    return m_device->pending_input();
}

void VirtioConsole::set_input_taken_callback(std::function<void()> callback)
{
    m_device->set_input_taken_callback(std::move(callback));
}

void VirtioConsole::resize(WindowSize size)
{
    m_transport->change_configuration([&] { m_device->set_window_size(size); });
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
