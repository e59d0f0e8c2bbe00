#include "vmm/machine/Machine.h"

#include "vmm/arch/x86_64/BootParams.h"
#include "vmm/arch/x86_64/BzImage.h"
#include "vmm/arch/x86_64/CpuSetup.h"
#include "vmm/arch/x86_64/Layout.h"
#include "vmm/arch/x86_64/LongMode.h"
#include "vmm/arch/x86_64/MpTable.h"
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
#include <sys/stat.h>
#include <unistd.h>

namespace vmm {

using namespace x86_64;

Machine::Machine(BootOptions options)
    : m_options(std::move(options))
    , m_host_kind(detect_host_kind())
{
    // Check every input before touching KVM, so that bad input gets its own
    // error on any host.
    if (m_options.memory_size < minimum_memory_size)
        throw Error(fmt::format("--mem: {} MiB is too small; vmm needs at least {} MiB", m_options.memory_size >> 20, minimum_memory_size >> 20));
    if (m_options.memory_size > 1024 * GiB)
        throw Error(fmt::format("--mem: {} GiB is more than vmm supports (1024 GiB)", m_options.memory_size >> 30));
    if (m_options.huge_pages == HugePages::Yes && m_options.memory_size % (2 * MiB) != 0)
        throw Error(fmt::format("--mem: {} bytes is not a multiple of the 2 MiB huge page size", m_options.memory_size));
    std::optional<BzImage> kernel;
    std::vector<uint8_t> flat_binary;
    if (m_options.kernel_format == KernelFormat::BzImage) {
        kernel = BzImage::load_file(m_options.kernel);
        uint64_t const low_memory = std::min(m_options.memory_size, mmio_hole_start);
        if (kernel->memory_needed() > low_memory)
            throw Error(fmt::format("--mem: {} MiB is too small for kernel {}: it needs at least {} MiB", m_options.memory_size >> 20,
                m_options.kernel, (kernel->memory_needed() + MiB - 1) >> 20));
    } else {
        flat_binary = read_file(m_options.kernel, "test guest");
    }
    std::vector<uint8_t> initrd;
    if (!m_options.initrd.empty()) {
        // Checked before reading, so that a huge file is refused at once.
        struct stat status {};
        if (::stat(m_options.initrd.c_str(), &status) == 0 && static_cast<uint64_t>(status.st_size) >= m_options.memory_size)
            throw Error(fmt::format("initrd {}: {} bytes do not fit in {} MiB of guest memory", m_options.initrd, status.st_size,
                m_options.memory_size >> 20));
        initrd = read_file(m_options.initrd, "initrd");
    } else if (kernel && !m_options.disks.empty()) {
        // vmm's own initramfs: guest/init mounts the root disk itself, so
        // any ext4 image with a Linux tree boots, whatever init it has.
        initrd = build_vmm_initramfs();
        m_root_mount = RootMount::Init;
    }
    for (auto const& disk : m_options.disks) {
        struct stat status {};
        if (::stat(disk.path.c_str(), &status) != 0)
            throw Error(describe_system_error("disk", disk.path, errno));
    }

    m_kvm = kvm::Kvm::open();
    m_vm = kvm::VirtualMachine::create(*m_kvm);
    m_memory = GuestMemory::create(m_options.memory_size, m_options.huge_pages);
    uint32_t slot = 0;
    for (auto const& region : m_memory.regions())
        m_vm->set_user_memory_region(slot++, region.guest_address, region.mapping.size(), region.mapping.data());
    m_vm->create_irqchip_and_pit();
    m_timings.mark(Timings::Milestone::VmCreated);

    create_devices();
    for (uint32_t index = 0; index < m_options.cpus; ++index)
        m_vcpus.push_back(kvm::Vcpu::create(*m_kvm, *m_vm, index));
    auto const supported_cpuid = m_kvm->supported_cpuid();
    for (auto& vcpu : m_vcpus)
        configure_vcpu(vcpu, supported_cpuid, m_options.cpus);

    if (kernel)
        load_kernel(*kernel, initrd);
    else
        load_flat_binary(flat_binary);
}

Machine::~Machine()
{
    kick_vcpus();
    for (auto& thread : m_vcpu_threads) {
        if (thread.joinable())
            thread.join();
    }
}

// The legacy devices are registered here, in one place; the virtio devices,
// which depend on the disks and the console, in add_virtio_devices().
void Machine::create_devices()
{
    m_console_output = std::make_shared<ConsoleOutput>(STDOUT_FILENO);
    if (int const output_fd = m_console_output->pollable_fd(); output_fd >= 0) {
        try {
            // Output the host did not take at once goes out when stdout can take more.
            m_io_loop.add(output_fd, [output = m_console_output](uint32_t) { output->flush(); }, EPOLLOUT | EPOLLET);
        } catch (Error const& error) {
            spdlog::debug("stdout cannot be polled ({}); held-back console output waits for the next write", error.what());
        }
    }
    m_serial = std::make_shared<Serial8250>([this](bool level) { m_vm->set_irq_line(serial_irq, level); }, m_console_output);
    m_io_bus.add(serial_port_base, 8, m_serial);
    m_io_bus.add(i8042_data_port, i8042_command_port - i8042_data_port + 1,
        std::make_shared<I8042>([this] { stop(StopReason::GuestReset, 0); }));
    m_io_bus.add(cmos_port_base, 2, std::make_shared<CmosRtc>());
    m_io_bus.add(VMM_EXIT_STATUS_PORT, GuestReporter::port_count,
        std::make_shared<GuestReporter>(
            [this](uint8_t status) { stop(StopReason::ExitStatusReported, status); },
            [this] {
                m_timings.mark(Timings::Milestone::BootMarker);
                // Live, so that a harness watching vmm's output (workload
                // time) sees when init came up; never on the guest's console.
                if (m_options.print_timings || spdlog::should_log(spdlog::level::debug))
                    fmt::print(stderr, "{} (vm) at {:.3f} ms\n", VMM_BOOT_MARKER_LINE, Timings::elapsed_milliseconds());
            }));
    m_console_input = [this](std::span<uint8_t const> bytes) { m_serial->queue_input(bytes); };
}

// virtio-mmio devices take consecutive 4 KiB slots and IOAPIC pins: the
// disks first (the root filesystem is /dev/vda), then the console.
void Machine::add_virtio_devices(CmdlineInputs& cmdline)
{
    uint32_t slot = 0;
    auto next_context = [&] {
        if (slot == virtio_max_devices)
            throw Error(fmt::format("too many virtio devices: vmm has {} slots", virtio_max_devices));
        virtio::DeviceContext context { m_memory, *m_vm, m_io_loop, virtio_mmio_base + slot * virtio_mmio_slot_size, virtio_first_irq + slot };
        ++slot;
        cmdline.virtio_devices.push_back(virtio::kernel_cmdline_entry(context.mmio_base, context.irq));
        return context;
    };
    for (auto const& disk : m_options.disks) {
        auto const context = next_context();
        m_mmio_bus.add(context.mmio_base, virtio_mmio_slot_size, virtio::create_block_device(context, disk));
    }
    if (!m_options.disks.empty()) {
        cmdline.root_mount = m_root_mount;
        cmdline.root_access = m_options.disks.front().access;
    }
    if (m_options.console == ConsoleKind::Virtio) {
        auto const context = next_context();
        auto console = virtio::create_console_device(context, m_console_output);
        m_mmio_bus.add(context.mmio_base, virtio_mmio_slot_size, console->transport());
        m_console_input = [console](std::span<uint8_t const> bytes) { console->queue_input(bytes); };
    }
}

void Machine::load_kernel(BzImage const& kernel, std::span<uint8_t const> initrd_bytes)
{
    CmdlineInputs cmdline;
    cmdline.console = m_options.console;
    cmdline.host = m_host_kind;
    cmdline.extra = m_options.extra_cmdline;
    cmdline.command = m_options.command;
    add_virtio_devices(cmdline);
    auto const text = build_kernel_cmdline(cmdline, kernel.cmdline_limit());
    spdlog::debug("kernel command line: {}", text);

    uint64_t const entry = kernel.load_into(m_memory);
    std::optional<InitrdPlacement> initrd;
    if (!initrd_bytes.empty()) {
        initrd = place_initrd(kernel, initrd_bytes.size(), m_options.memory_size);
        m_memory.write_bytes(initrd->address, initrd_bytes);
    }
    std::vector<uint8_t> cmdline_bytes(text.begin(), text.end());
    cmdline_bytes.push_back(0);
    m_memory.write_bytes(cmdline_address, cmdline_bytes);
    m_memory.write_object(zero_page_address, build_boot_params(kernel, m_options.memory_size, text.size(), initrd));
    write_mptable(m_memory, m_options.cpus);
    setup_boot_vcpu(entry, zero_page_address);
}

void Machine::load_flat_binary(std::span<uint8_t const> bytes)
{
    // A test guest gets the --disk disks (not ROOTFS, which tests leave as
    // /dev/null) at the usual virtio-mmio slots, without a command line.
    CmdlineInputs unused;
    if (!m_options.disks.empty())
        m_options.disks.erase(m_options.disks.begin());
    add_virtio_devices(unused);
    if (!m_memory.contains(test_guest_load_address, bytes.size()))
        throw Error(fmt::format("test guest {}: {} bytes do not fit in guest memory", m_options.kernel, bytes.size()));
    m_memory.write_bytes(test_guest_load_address, bytes);
    write_mptable(m_memory, m_options.cpus);
    setup_boot_vcpu(test_guest_load_address, zero_page_address);
}

void Machine::setup_boot_vcpu(uint64_t entry, uint64_t zero_page)
{
    // Only the bootstrap processor gets an entry state; the others wait for
    // the INIT-SIPI sequence in the in-kernel LAPIC, as on real hardware.
    auto& vcpu = m_vcpus.front();
    auto sregs = vcpu.get_special_registers();
    setup_long_mode(m_memory, sregs);
    vcpu.set_special_registers(sregs);
    vcpu.set_registers(boot_registers(entry, zero_page));
    kvm_fpu fpu {};
    fpu.fcw = 0x37f;      // x87 default control word: all exceptions masked.
    fpu.mxcsr = 0x1f80;   // SSE default: all exceptions masked.
    vcpu.set_fpu(fpu);
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
