#include "vmm/machine/Machine.h"

#include "common/Error.h"
#include "vmm/devices/CmosRtc.h"
#include "vmm/devices/GuestReporter.h"
#include "vmm/devices/I8042.h"
#include "vmm/devices/virtio/VirtioDevices.h"
#include "vmm/machine/HostDetection.h"
#include "vmm/machine/Initramfs.h"
#include "guest/protocol.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm {

namespace {

constexpr uint64_t huge_page_size = 2 << 20;

// From any thread: wakes the I/O thread's HostInput to read more of stdin.
void signal_input_room(int room_fd)
{
    uint64_t const one = 1;
    // A full counter already wakes it.
    [[maybe_unused]] auto written = ::write(room_fd, &one, sizeof(one));
}

}

// The machine is set up in boot order (after Firecracker's builder): memory,
// the interrupt controller with its vCPUs, the devices, the kernel, the boot
// information, and the vCPUs' entry state. What differs between
// architectures is behind vmm/arch/Architecture.h.
Machine::Machine(BootOptions options)
    : m_options(std::move(options))
    , m_host_kind(detect_host_kind())
    , m_device_map(arch::device_map())
{
    // Check every input before touching KVM, so that bad input gets its own
    // error on any host.
    arch::check_memory_size(m_options.memory_size);
    if (!m_options.device_tree_dump.empty() && !arch::uses_device_tree())
        throw Error(fmt::format("--dump-dtb: {} guests boot without a device tree", arch::name()));
    if (m_options.huge_pages == HugePages::Yes && m_options.memory_size % huge_page_size != 0)
        throw Error(fmt::format("--mem: {} bytes is not a multiple of the 2 MiB huge page size", m_options.memory_size));
    auto const kernel = arch::load_kernel_file(m_options.kernel, m_options.memory_size);
    if (!kernel->is_linux())
        m_guest = GuestKind::TestGuest;
    else if (m_options.disks.empty() && m_options.initrd.empty())
        throw Error(fmt::format("kernel {}: nothing to boot from: give a ROOTFS (or --initrd)", m_options.kernel));
    auto const initrd = read_initrd(*kernel);
    for (auto const& disk : m_options.disks) {
        struct stat status {};
        if (::stat(disk.path.c_str(), &status) != 0)
            throw Error(describe_system_error("disk", disk.path, errno));
    }
    // What the guest's console stands for on the host: guest/init sets it up to match.
    m_host_input = ::isatty(STDIN_FILENO) ? HostStream::Terminal : HostStream::Data;
    m_host_output = ::isatty(STDOUT_FILENO) ? HostStream::Terminal : HostStream::Data;
    m_window_size = terminal_window_size(STDIN_FILENO);
    if (!m_window_size)
        m_window_size = terminal_window_size(STDOUT_FILENO);
    m_input_room = FileDescriptor(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!m_input_room.is_valid())
        throw_system_error("eventfd", "console input");

    // Memory.
    m_kvm = kvm::Kvm::open();
    m_vm = kvm::VirtualMachine::create(*m_kvm);
    auto const ram = arch::ram_ranges(m_options.memory_size);
    m_memory = GuestMemory::create(ram, m_options.huge_pages);
    uint32_t slot = 0;
    for (auto const& region : m_memory.regions())
        m_vm->set_user_memory_region(slot++, region.guest_address, region.mapping.size(), region.mapping.data());

    // The interrupt controller, and the vCPUs it serves.
    m_vcpus = arch::create_interrupt_controller_and_vcpus(*m_kvm, *m_vm, m_options.cpus);
    m_timings.mark(Timings::Milestone::VmCreated);

    // Devices.
    arch::MachineDescription description;
    description.memory_size = m_options.memory_size;
    description.cpu_count = m_options.cpus;
    description.console = m_options.console == ConsoleKind::Virtio ? arch::ConsoleDevice::Virtio : arch::ConsoleDevice::Serial;
    create_devices();
    add_virtio_devices(description);

    // The kernel, then the boot information that tells it about the machine.
    auto const loaded = arch::load_kernel(*kernel, m_memory, initrd);
    if (kernel->is_linux()) {
        description.cmdline = kernel_cmdline(*kernel, description);
        spdlog::debug("kernel command line: {}", description.cmdline);
    }
    auto const boot = arch::write_boot_information(*kernel, loaded, description, m_vcpus, m_memory);
    if (!m_options.device_tree_dump.empty())
        write_file_atomically(m_options.device_tree_dump, boot.device_tree, "--dump-dtb");

    // The vCPUs' entry state.
    arch::set_boot_state(m_vcpus, loaded, boot, m_memory);
}

std::vector<uint8_t> Machine::read_initrd(arch::Kernel const& kernel)
{
    if (!m_options.initrd.empty()) {
        // Checked before reading, so that a huge file is refused at once.
        struct stat status {};
        if (::stat(m_options.initrd.c_str(), &status) == 0 && static_cast<uint64_t>(status.st_size) >= m_options.memory_size)
            throw Error(fmt::format("initrd {}: {} bytes do not fit in {} MiB of guest memory", m_options.initrd, status.st_size,
                m_options.memory_size >> 20));
        return read_file(m_options.initrd, "initrd");
    }
    if (kernel.is_linux() && !m_options.disks.empty()) {
        // vmm's own initramfs: guest/init mounts the root disk itself, so
        // any ext4 image with a Linux tree boots, whatever init it has.
        m_root_mount = RootMount::Init;
        return build_vmm_initramfs();
    }
    return {};
}

Machine::~Machine()
{
    kick_vcpus();
    for (auto& thread : m_vcpu_threads) {
        if (thread.joinable())
            thread.join();
    }
}

Bus& Machine::bus_for(arch::BusRange const& range)
{
    return range.bus == arch::BusKind::Pio ? m_io_bus : m_mmio_bus;
}

// The platform devices are registered here, in one place, where the
// architecture's device map puts them; the virtio devices, which depend on
// the disks and the console, in add_virtio_devices().
void Machine::create_devices()
{
    m_console_output = std::make_shared<ConsoleOutput>(STDOUT_FILENO);
    m_serial = std::make_shared<Serial8250>([this](bool level) { m_vm->set_irq_line(m_device_map.serial_irq, level); }, m_console_output);
    if (int const output_fd = m_console_output->pollable_fd(); output_fd >= 0) {
        try {
            // Output the host did not take at once goes out when stdout can
            // take more; then the UART raises CTS again. Without this watch
            // nothing would, so only with it does the output hold writers back.
            m_io_loop.add(output_fd, [output = m_console_output](uint32_t) { output->flush(); }, EPOLLOUT | EPOLLET);
            m_console_output->set_resumed_callback([serial = std::weak_ptr(m_serial)] {
                if (auto const uart = serial.lock())
                    uart->output_resumed();
            });
        } catch (Error const& error) {
            spdlog::debug("stdout cannot be polled ({}); held-back console output waits for the next write", error.what());
        }
    }
    auto const& map = m_device_map;
    bus_for(map.serial).add(map.serial.base, map.serial.size, m_serial);
    if (map.i8042)
        bus_for(*map.i8042).add(map.i8042->base, map.i8042->size, std::make_shared<I8042>([this] { stop(StopReason::GuestReset, 0); }));
    if (map.cmos)
        bus_for(*map.cmos).add(map.cmos->base, map.cmos->size, std::make_shared<CmosRtc>());
    bus_for(map.guest_reporter).add(map.guest_reporter.base, map.guest_reporter.size,
        std::make_shared<GuestReporter>(
            [this](uint8_t status) { stop(StopReason::ExitStatusReported, status); },
            [this] {
                m_timings.mark(Timings::Milestone::BootMarker);
                m_guest_init_up.store(true);
                signal_input_room(m_input_room.get());
                // Live, so that a harness watching vmm's output (workload
                // time) sees when init came up; never on the guest's console.
                if (m_options.print_timings || spdlog::should_log(spdlog::level::debug))
                    fmt::print(stderr, "{} (vm) at {:.3f} ms\n", VMM_BOOT_MARKER_LINE, Timings::elapsed_milliseconds());
            }));
    m_serial->set_input_taken_callback([room = m_input_room.get()] { signal_input_room(room); });
    m_console_input = { [this](std::span<uint8_t const> bytes) { m_serial->queue_input(bytes); },
        [this] { return m_serial->pending_input(); } };
}

// virtio-mmio devices take consecutive 4 KiB slots and interrupt lines:
// the disks first (the root filesystem is /dev/vda), then the network, then the console.
void Machine::add_virtio_devices(arch::MachineDescription& description)
{
    auto const& map = m_device_map;
    uint32_t slot = 0;
    auto next_context = [&] {
        if (slot == map.virtio_max_devices)
            throw Error(fmt::format("too many virtio devices: vmm has {} slots", map.virtio_max_devices));
        virtio::DeviceContext context { m_memory, *m_vm, m_io_loop, map.virtio_mmio_base + slot * map.virtio_slot_size, map.virtio_first_irq + slot,
            m_options.cpus, &m_queue_threads };
        ++slot;
        description.virtio_devices.push_back({ context.mmio_base, context.irq });
        return context;
    };
    for (auto const& disk : m_options.disks) {
        auto const context = next_context();
        m_mmio_bus.add(context.mmio_base, map.virtio_slot_size, virtio::create_block_device(context, disk));
    }
    if (m_options.network) {
        auto const context = next_context();
        m_mmio_bus.add(context.mmio_base, map.virtio_slot_size, virtio::create_net_device(context, *m_options.network));
    }
    if (m_options.console == ConsoleKind::Virtio) {
        auto const context = next_context();
        auto console = virtio::create_console_device(context, m_console_output);
        m_mmio_bus.add(context.mmio_base, map.virtio_slot_size, console->transport());
        console->set_input_taken_callback([room = m_input_room.get()] { signal_input_room(room); });
        // hvc0 gets the size from the start (announced when its driver is up) and follows it.
        if (m_window_size)
            console->resize(*m_window_size);
        m_console_input = { [console](std::span<uint8_t const> bytes) { console->queue_input(bytes); },
            [console] { return console->pending_input(); } };
        m_virtio_console = console;
    }
}

std::string Machine::kernel_cmdline(arch::Kernel const& kernel, arch::MachineDescription const& description) const
{
    auto const& defaults = arch::kernel_cmdline_defaults();
    CmdlineInputs cmdline;
    cmdline.platform_options = defaults.platform_options;
    cmdline.console = m_options.console;
    cmdline.host = m_host_kind;
    cmdline.extra = m_options.extra_cmdline;
    cmdline.command = m_options.command;
    cmdline.command_settings = m_options.command_settings;
    cmdline.hostname = m_options.hostname;
    cmdline.window_size = m_window_size;
    cmdline.input = m_host_input;
    cmdline.output = m_host_output;
    if (defaults.virtio_discovery == arch::VirtioDiscovery::KernelCmdline) {
        for (auto const& device : description.virtio_devices)
            cmdline.virtio_devices.push_back(virtio::kernel_cmdline_entry(device.mmio_base, device.irq));
    }
    if (m_options.network)
        cmdline.network = GuestNetwork { m_options.network->address, m_options.network->gateway, m_options.network->mtu, m_options.network->name_servers };
    if (!m_options.disks.empty()) {
        cmdline.root_mount = m_root_mount;
        cmdline.root_access = m_options.disks.front().access;
    }
    return build_kernel_cmdline(cmdline, kernel.cmdline_limit());
}

void Machine::stop(StopReason reason, int exit_status, std::string message)
{
    {
        std::lock_guard lock(m_stop_mutex);
        if (m_stop_reason != StopReason::Running)
            return;
        m_stop_reason = reason;
        m_exit_status = exit_status;
        m_stop_message = std::move(message);
        m_stopping.store(true);
    }
    m_io_loop.stop();
}

int boot(BootOptions const& options)
{
    Machine machine(options);
    return machine.run();
}

}
