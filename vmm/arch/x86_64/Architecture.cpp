// x86_64 behind vmm/arch/Architecture.h: a bzImage through the 64-bit boot
// protocol (boot_params with an e820 map, the MP table), or a flat test guest.

#include "vmm/arch/Architecture.h"

#include "common/Error.h"
#include "vmm/arch/x86_64/BootParams.h"
#include "vmm/arch/x86_64/BzImage.h"
#include "vmm/arch/x86_64/CpuSetup.h"
#include "vmm/arch/x86_64/Layout.h"
#include "vmm/arch/x86_64/LongMode.h"
#include "vmm/arch/x86_64/MpTable.h"
#include "common/FileDescriptor.h"
#include "guest/protocol.h"

#include <fmt/format.h>

namespace vmm::arch {

using namespace x86_64;

namespace {

class X86Kernel final : public Kernel {
public:
    explicit X86Kernel(BzImage image)
        : m_image(std::move(image))
    {
    }
    X86Kernel(std::vector<uint8_t> flat_binary, std::string path)
        : m_flat_binary(std::move(flat_binary))
        , m_path(std::move(path))
    {
    }

    size_t cmdline_limit() const override { return m_image ? m_image->cmdline_limit() : 0; }
    bool is_linux() const override { return m_image.has_value(); }
    BzImage const* image() const { return m_image ? &*m_image : nullptr; }
    std::span<uint8_t const> flat_binary() const { return m_flat_binary; }
    std::string const& path() const { return m_path; }

private:
    std::optional<BzImage> m_image;
    std::vector<uint8_t> m_flat_binary;
    std::string m_path;
};

X86Kernel const& as_x86(Kernel const& kernel)
{
    return static_cast<X86Kernel const&>(kernel);
}

}

char const* name()
{
    return "x86_64";
}

bool uses_device_tree()
{
    return false;
}

std::vector<RamRange> ram_ranges(uint64_t memory_size)
{
    uint64_t const low_size = std::min(memory_size, mmio_hole_start);
    std::vector<RamRange> ranges { { 0, low_size } };
    if (memory_size > low_size)
        ranges.push_back({ high_ram_start, memory_size - low_size });
    return ranges;
}

void check_memory_size(uint64_t memory_size)
{
    if (memory_size < minimum_memory_size)
        throw Error(fmt::format("--mem: {} MiB is too small; vmm needs at least {} MiB", memory_size >> 20, minimum_memory_size >> 20));
    if (memory_size > maximum_memory_size)
        throw Error(fmt::format("--mem: {} GiB is more than vmm supports ({} GiB)", memory_size >> 30, maximum_memory_size >> 30));
}

DeviceMap const& device_map()
{
    static DeviceMap const map {
        .serial = { BusKind::Pio, serial_port_base, 8 },
        .serial_irq = serial_irq,
        .guest_reporter = { BusKind::Pio, VMM_EXIT_STATUS_PORT, 2 },
        .i8042 = BusRange { BusKind::Pio, i8042_data_port, i8042_command_port - i8042_data_port + 1 },
        .cmos = BusRange { BusKind::Pio, cmos_port_base, 2 },
        .virtio_mmio_base = virtio_mmio_base,
        .virtio_slot_size = virtio_mmio_slot_size,
        .virtio_first_irq = virtio_first_irq,
        .virtio_max_devices = virtio_max_devices,
    };
    return map;
}

KernelCmdlineDefaults const& kernel_cmdline_defaults()
{
    // Reset through the keyboard controller; no probing of an absent mouse or multiplexer.
    static KernelCmdlineDefaults const defaults {
        .platform_options = "reboot=k panic=1 nomodule i8042.noaux i8042.nomux i8042.dumbkbd",
        .virtio_discovery = VirtioDiscovery::KernelCmdline,
    };
    return defaults;
}

std::vector<kvm::Vcpu> create_interrupt_controller_and_vcpus(kvm::Kvm const& kvm, kvm::VirtualMachine& vm, uint32_t count)
{
    // The IOAPIC, PIC and PIT first: each vCPU gets its LAPIC when it is created.
    vm.create_x86_irqchip_and_pit(kvm_tss_address, kvm_identity_map_address);
    std::vector<kvm::Vcpu> vcpus;
    for (uint32_t index = 0; index < count; ++index)
        vcpus.push_back(kvm::Vcpu::create(kvm, vm, index));
    auto const supported_cpuid = kvm.supported_cpuid();
    for (auto& vcpu : vcpus)
        configure_vcpu(vcpu, supported_cpuid, count);
    return vcpus;
}

std::unique_ptr<Kernel> load_kernel_file(std::string const& path, uint64_t memory_size)
{
    auto bytes = read_file(path, "kernel", BzImage::maximum_size);
    if (bytes.size() >= sizeof(test_guest_magic) && std::equal(std::begin(test_guest_magic), std::end(test_guest_magic), bytes.begin())) {
        bytes.erase(bytes.begin(), bytes.begin() + sizeof(test_guest_magic));
        return std::make_unique<X86Kernel>(std::move(bytes), path);
    }
    auto image = BzImage::parse(std::move(bytes), path);
    uint64_t const low_memory = std::min(memory_size, mmio_hole_start);
    if (image.memory_needed() > low_memory)
        throw Error(fmt::format("--mem: {} MiB is too small for kernel {}: it needs at least {} MiB", memory_size >> 20, path,
            (image.memory_needed() + MiB - 1) >> 20));
    return std::make_unique<X86Kernel>(std::move(image));
}

LoadedKernel load_kernel(Kernel const& kernel, GuestMemory const& memory, std::span<uint8_t const> initrd_bytes)
{
    auto const& x86_kernel = as_x86(kernel);
    auto const* image = x86_kernel.image();
    if (!image) {
        auto const bytes = x86_kernel.flat_binary();
        if (!memory.contains(test_guest_load_address, bytes.size()))
            throw Error(fmt::format("test guest {}: {} bytes do not fit in guest memory", x86_kernel.path(), bytes.size()));
        memory.write_bytes(test_guest_load_address, bytes);
        return { test_guest_load_address, std::nullopt };
    }
    LoadedKernel loaded { image->load_into(memory), std::nullopt };
    if (!initrd_bytes.empty()) {
        auto const placement = place_initrd(*image, initrd_bytes.size(), memory.size());
        memory.write_bytes(placement.address, initrd_bytes);
        loaded.initrd = InitrdRange { placement.address, placement.size };
    }
    return loaded;
}

BootInformation write_boot_information(Kernel const& kernel, LoadedKernel const& loaded, MachineDescription const& machine,
    std::span<kvm::Vcpu const>, GuestMemory const& memory)
{
    if (auto const* image = as_x86(kernel).image()) {
        std::vector<uint8_t> cmdline_bytes(machine.cmdline.begin(), machine.cmdline.end());
        cmdline_bytes.push_back(0);
        memory.write_bytes(cmdline_address, cmdline_bytes);
        std::optional<InitrdPlacement> initrd;
        if (loaded.initrd)
            initrd = InitrdPlacement { loaded.initrd->address, loaded.initrd->size };
        memory.write_object(zero_page_address, build_boot_params(*image, machine.memory_size, machine.cmdline.size(), initrd));
    }
    write_mptable(memory, machine.cpu_count);
    return { zero_page_address, {} };
}

void set_boot_state(std::span<kvm::Vcpu> vcpus, LoadedKernel const& loaded, BootInformation const& boot, GuestMemory const& memory)
{
    // Only the bootstrap processor gets an entry state; the others wait for
    // the INIT-SIPI sequence in the in-kernel LAPIC, as on real hardware.
    auto& vcpu = vcpus.front();
    auto sregs = vcpu.get_special_registers();
    setup_long_mode(memory, sregs);
    vcpu.set_special_registers(sregs);
    vcpu.set_registers(boot_registers(loaded.entry, boot.address));
    kvm_fpu fpu {};
    fpu.fcw = 0x37f;    // x87 default control word: all exceptions masked.
    fpu.mxcsr = 0x1f80; // SSE default: all exceptions masked.
    vcpu.set_fpu(fpu);
}

uint64_t instruction_pointer(kvm::Vcpu const& vcpu)
{
    return vcpu.get_registers().rip;
}

void complete_instruction(kvm::Vcpu& vcpu, uint32_t length, std::optional<uint8_t> exception_vector)
{
    auto regs = vcpu.get_registers();
    regs.rip += length;
    vcpu.set_registers(regs);
    if (exception_vector) {
        auto events = vcpu.get_events();
        events.exception.injected = 1;
        events.exception.nr = *exception_vector;
        events.exception.has_error_code = 0;
        vcpu.set_events(events);
    }
}

}
