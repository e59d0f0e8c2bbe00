// aarch64 behind vmm/arch/Architecture.h: an arm64 Image at a 2 MiB aligned
// base, a GICv3 in the kernel, vCPUs with PSCI 0.2 (secondaries powered off
// until the guest's CPU_ON), and a device tree in place of boot_params.

#include "vmm/arch/Architecture.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "vmm/arch/aarch64/ArmImage.h"
#include "vmm/arch/aarch64/DeviceTree.h"
#include "vmm/arch/aarch64/Gic.h"
#include "vmm/arch/aarch64/Layout.h"
#include "vmm/arch/aarch64/Registers.h"

#include <algorithm>
#include <fmt/format.h>

namespace vmm::arch {

using namespace aarch64;

namespace {

class ArmKernel final : public Kernel {
public:
    explicit ArmKernel(ArmImage image)
        : m_image(std::move(image))
    {
    }
    size_t cmdline_limit() const override { return cmdline_max_size - 1; }
    bool is_linux() const override { return true; }
    ArmImage const& image() const { return m_image; }

private:
    ArmImage m_image;
};

uint64_t device_tree_address(uint64_t memory_size)
{
    return (ram_base + memory_size - device_tree_max_size) & ~(kernel_alignment - 1);
}

}

char const* name()
{
    return "aarch64";
}

bool uses_device_tree()
{
    return true;
}

std::vector<RamRange> ram_ranges(uint64_t memory_size)
{
    return { { ram_base, memory_size } };
}

void check_memory_size(uint64_t memory_size)
{
    if (memory_size < minimum_memory_size)
        throw Error(fmt::format("--mem: {} MiB is too small; vmm needs at least {} MiB", memory_size >> 20, minimum_memory_size >> 20));
    if (memory_size > maximum_memory_size)
        throw Error(fmt::format("--mem: {} GiB is more than vmm supports on aarch64 ({} GiB)", memory_size >> 30, maximum_memory_size >> 30));
}

DeviceMap const& device_map()
{
    static DeviceMap const map {
        .serial = { BusKind::Mmio, serial_base, serial_size },
        .serial_irq = serial_spi,
        .guest_reporter = { BusKind::Mmio, guest_reporter_base, guest_reporter_size },
        .i8042 = std::nullopt,
        .cmos = std::nullopt,
        .virtio_mmio_base = virtio_mmio_base,
        .virtio_slot_size = virtio_mmio_slot_size,
        .virtio_first_irq = virtio_first_spi,
        .virtio_max_devices = virtio_max_devices,
    };
    return map;
}

KernelCmdlineDefaults const& kernel_cmdline_defaults()
{
    // The device tree names the hardware; a reset or power-off goes through PSCI.
    static KernelCmdlineDefaults const defaults {
        .platform_options = "panic=1 nomodule",
        .virtio_discovery = VirtioDiscovery::DeviceTree,
    };
    return defaults;
}

std::vector<kvm::Vcpu> create_interrupt_controller_and_vcpus(kvm::Kvm const& kvm, kvm::VirtualMachine& vm, uint32_t count)
{
    if (count == 0 || count > max_cpus)
        throw Error(fmt::format("--cpus: {} vCPUs; vmm supports 1 to {} on aarch64", count, max_cpus));
    // The vCPUs first: the GICv3 is initialised for the vCPUs that exist.
    std::vector<kvm::Vcpu> vcpus;
    for (uint32_t index = 0; index < count; ++index) {
        vcpus.push_back(kvm::Vcpu::create(kvm, vm, index));
        initialize_vcpu(vm, vcpus.back());
    }
    create_gic_v3(vm);
    return vcpus;
}

std::unique_ptr<Kernel> load_kernel_file(std::string const& path, uint64_t memory_size)
{
    auto bytes = read_file(path, "kernel", ArmImage::maximum_size);
    if (bytes.size() >= sizeof(test_guest_magic) && std::equal(std::begin(test_guest_magic), std::end(test_guest_magic), bytes.begin()))
        throw Error(fmt::format("kernel {}: a vmm test guest, which is x86_64 code; vmm on aarch64 boots arm64 Images", path));
    auto image = ArmImage::parse(std::move(bytes), path);
    image.check_fits(memory_size);
    return std::make_unique<ArmKernel>(std::move(image));
}

LoadedKernel load_kernel(Kernel const& kernel, GuestMemory const& memory, std::span<uint8_t const> initrd_bytes)
{
    auto const& image = static_cast<ArmKernel const&>(kernel).image();
    uint64_t const load_address = image.load_address(ram_base);
    memory.write_bytes(load_address, image.bytes());
    LoadedKernel loaded { load_address, std::nullopt };
    if (!initrd_bytes.empty()) {
        // Just below the device tree, above the kernel's image_size.
        uint64_t const top = device_tree_address(memory.size());
        uint64_t const kernel_end = load_address + image.memory_size();
        if (initrd_bytes.size() > top - kernel_end)
            throw Error(fmt::format("the initrd ({} bytes) and the kernel ({} bytes) do not fit in {} MiB of guest memory",
                initrd_bytes.size(), image.memory_size(), memory.size() >> 20));
        uint64_t const address = (top - initrd_bytes.size()) & ~(initrd_alignment - 1);
        memory.write_bytes(address, initrd_bytes);
        loaded.initrd = InitrdRange { address, initrd_bytes.size() };
    }
    return loaded;
}

BootInformation write_boot_information(Kernel const&, LoadedKernel const& loaded, MachineDescription const& machine,
    std::span<kvm::Vcpu const> vcpus, GuestMemory const& memory)
{
    DeviceTreeDescription description;
    description.memory_base = ram_base;
    description.memory_size = machine.memory_size;
    for (auto const& vcpu : vcpus)
        description.cpu_affinities.push_back(vcpu_affinity(vcpu));
    description.bootargs = machine.cmdline;
    if (loaded.initrd)
        description.initrd = DeviceTreeInitrd { loaded.initrd->address, loaded.initrd->address + loaded.initrd->size };
    for (auto const& device : machine.virtio_devices)
        description.virtio_devices.push_back({ device.mmio_base, virtio_mmio_slot_size, device.irq });
    BootInformation boot { device_tree_address(machine.memory_size), build_device_tree(description) };
    memory.write_bytes(boot.address, boot.device_tree);
    return boot;
}

void set_boot_state(std::span<kvm::Vcpu> vcpus, LoadedKernel const& loaded, BootInformation const& boot, GuestMemory const&)
{
    // The others were created powered off and wait for the guest's PSCI CPU_ON.
    set_boot_registers(vcpus.front(), loaded.entry, boot.address);
}

uint64_t instruction_pointer(kvm::Vcpu const& vcpu)
{
    return program_counter(vcpu);
}

void complete_instruction(kvm::Vcpu&, uint32_t, std::optional<uint8_t>)
{
    throw Error("completing an instruction KVM could not emulate is a PVM (x86_64) measure; an aarch64 vCPU never asks for it");
}

}
