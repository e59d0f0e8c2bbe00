#pragma once

// The interface between the machine and one CPU architecture (after
// Firecracker's arch crate). The machine calls it in boot order: the memory
// map, the interrupt controller (with the vCPUs it serves), the devices'
// places, the kernel, the boot information (boot_params and an MP table on
// x86_64, a device tree on aarch64) and the vCPUs' entry state. Each
// architecture implements it in vmm/arch/<arch>/Architecture.cpp; the build
// compiles the host's (or the cross-compiler's) folder only, so nothing
// outside vmm/arch/ names an architecture.

#include "common/MappedRegion.h"
#include "vmm/kvm/Kvm.h"
#include "vmm/kvm/Vcpu.h"
#include "vmm/kvm/VirtualMachine.h"
#include "vmm/memory/GuestMemory.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vmm::arch {

// A vmm test guest: these eight bytes, then raw code that is loaded at the
// architecture's test guest address and entered there (the project's tests
// assemble a few instructions into such files: tests/guests/).
inline constexpr char test_guest_magic[8] = { 'V', 'M', 'M', 'T', 'E', 'S', 'T', '\0' };

// The architecture vmm was built for: "x86_64" or "aarch64".
char const* name();
// Whether the guest learns its hardware from a device tree (aarch64).
bool uses_device_tree();

// --- Memory map ---

// Where `memory_size` bytes of guest RAM go (around the x86_64 MMIO hole, or
// from the aarch64 RAM base).
std::vector<RamRange> ram_ranges(uint64_t memory_size);
// Throws an Error naming --mem when `memory_size` is out of the range this architecture supports.
void check_memory_size(uint64_t memory_size);

// --- Device places ---

enum class BusKind {
    Pio,  // x86 I/O ports.
    Mmio,
};

struct BusRange {
    BusKind bus;
    uint64_t base;
    uint64_t size;
};

// Where the machine puts its devices. Interrupt numbers are what
// kvm::VirtualMachine::set_irq_line and register_irqfd take: IOAPIC pins on
// x86_64, SPI numbers (GIC INTID - 32) on aarch64.
struct DeviceMap {
    BusRange serial;
    uint32_t serial_irq;
    BusRange guest_reporter; // guest/protocol.h: the exit status and the boot marker.
    std::optional<BusRange> i8042; // The reset line of x86 (reboot=k); aarch64 resets through PSCI.
    std::optional<BusRange> cmos;
    uint64_t virtio_mmio_base;
    uint64_t virtio_slot_size;
    uint32_t virtio_first_irq;
    uint32_t virtio_max_devices;
};

DeviceMap const& device_map();

// How the guest kernel learns of the virtio-mmio devices.
enum class VirtioDiscovery {
    KernelCmdline, // virtio_mmio.device= words (x86_64).
    DeviceTree,    // virtio,mmio nodes (aarch64).
};

struct KernelCmdlineDefaults {
    // Options the architecture's kernel needs first (after Firecracker's
    // defaults: reboot at once on panic, no slow probing of absent hardware).
    char const* platform_options;
    VirtioDiscovery virtio_discovery;
};

KernelCmdlineDefaults const& kernel_cmdline_defaults();

// --- Interrupt controller and vCPUs ---

// Creates the in-kernel interrupt controller and `count` vCPUs in the order
// the architecture needs (x86_64: IOAPIC, PIC and PIT before the vCPUs and
// their LAPICs; aarch64: the vCPUs, then the GICv3 that is initialised for
// them), and gives each vCPU its architectural identity (CPUID and MSRs, or
// KVM_ARM_VCPU_INIT with PSCI).
std::vector<kvm::Vcpu> create_interrupt_controller_and_vcpus(kvm::Kvm const& kvm, kvm::VirtualMachine& vm, uint32_t count);

// --- Kernel ---

// A kernel read from its file and checked before any KVM call.
class Kernel {
public:
    virtual ~Kernel() = default;
    // The most command-line bytes the kernel accepts, without the terminating zero.
    virtual size_t cmdline_limit() const = 0;
    // Whether the kernel takes a command line and boot information (a test guest does not).
    virtual bool is_linux() const = 0;
};

// Reads `path`, tells its format from its contents (the architecture's Linux
// boot image: a bzImage on x86_64, an arm64 Image on aarch64; or a vmm test
// guest, see test_guest_magic) and validates it; every failure is one Error
// naming the file and the problem. Also checks that the kernel fits in
// `memory_size` bytes of RAM.
std::unique_ptr<Kernel> load_kernel_file(std::string const& path, uint64_t memory_size);

struct InitrdRange {
    GuestAddress address;
    uint64_t size;
};

struct LoadedKernel {
    GuestAddress entry;
    std::optional<InitrdRange> initrd;
};

// Copies the kernel and the initrd (which may be empty) into guest memory.
LoadedKernel load_kernel(Kernel const& kernel, GuestMemory const& memory, std::span<uint8_t const> initrd);

// --- Boot information ---

struct VirtioSlot {
    uint64_t mmio_base;
    uint32_t irq;
};

enum class ConsoleDevice {
    Serial, // The 8250/16550 UART.
    Virtio, // hvc0.
};

// What the boot information describes besides the memory map.
struct MachineDescription {
    uint64_t memory_size { 0 };
    uint32_t cpu_count { 1 };
    std::string cmdline;
    std::vector<VirtioSlot> virtio_devices;
    ConsoleDevice console { ConsoleDevice::Serial };
};

struct BootInformation {
    // Where the boot information is: the zero page (RSI) on x86_64, the
    // device tree (x0) on aarch64.
    GuestAddress address;
    // The flattened device tree as written into guest memory (aarch64; empty on x86_64).
    std::vector<uint8_t> device_tree;
};

// Writes the command line and the boot information into guest memory.
// `vcpus` are those create_interrupt_controller_and_vcpus() made (a device
// tree names each by the affinity KVM gave it).
BootInformation write_boot_information(Kernel const& kernel, LoadedKernel const& loaded, MachineDescription const& machine,
    std::span<kvm::Vcpu const> vcpus, GuestMemory const& memory);

// --- vCPU entry state ---

// Sets the registers each vCPU starts with: the boot vCPU at the kernel's
// entry, the others waiting for the guest to start them (INIT-SIPI on
// x86_64, PSCI CPU_ON on aarch64).
void set_boot_state(std::span<kvm::Vcpu> vcpus, LoadedKernel const& loaded, BootInformation const& boot, GuestMemory const& memory);

// --- Exits ---

// The vCPU's instruction pointer (RIP or PC), for error messages.
uint64_t instruction_pointer(kvm::Vcpu const& vcpu);

// Completes an instruction that KVM could not emulate (PVM hosts, x86_64):
// skips `length` bytes and injects `exception_vector` if there is one.
void complete_instruction(kvm::Vcpu& vcpu, uint32_t length, std::optional<uint8_t> exception_vector);

}
