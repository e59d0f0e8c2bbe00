#pragma once

// The guest physical memory map, in one place (after Firecracker's
// arch/x86_64/layout). Every address vmm puts something at is named here.

#include <cstdint>

namespace vmm::x86_64 {

inline constexpr uint64_t KiB = 1024;
inline constexpr uint64_t MiB = 1024 * KiB;
inline constexpr uint64_t GiB = 1024 * MiB;

// Boot structures in the first 640 KiB of RAM.
inline constexpr uint64_t gdt_address = 0x500;
inline constexpr uint64_t idt_address = 0x520;
inline constexpr uint64_t zero_page_address = 0x7000; // struct boot_params
inline constexpr uint64_t boot_stack_pointer = 0x8ff0;
inline constexpr uint64_t pml4_address = 0x9000;
inline constexpr uint64_t pdpte_address = 0xa000;
inline constexpr uint64_t pde_address = 0xb000; // Four pages: an identity map of 4 GiB in 2 MiB pages.
inline constexpr uint64_t identity_mapped_size = 4 * GiB;
inline constexpr uint64_t cmdline_address = 0x20000;
inline constexpr uint64_t cmdline_max_size = 2048; // COMMAND_LINE_SIZE of x86 Linux.

// The MP table lives in the last KiB of base memory, where Linux looks for it.
inline constexpr uint64_t mptable_address = 0x9fc00;
inline constexpr uint64_t base_memory_end = 0xa0000; // 640 KiB.

// The protected-mode kernel of a bzImage is loaded at 1 MiB.
inline constexpr uint64_t kernel_load_address = 1 * MiB;
inline constexpr uint64_t high_memory_start = 1 * MiB;

// A test guest (flat binary) is loaded here and entered in 64-bit mode.
inline constexpr uint64_t test_guest_load_address = 0x100000;

// The 32-bit MMIO hole: RAM stops at 3 GiB and resumes at 4 GiB.
inline constexpr uint64_t mmio_hole_start = 3 * GiB;
inline constexpr uint64_t high_ram_start = 4 * GiB;

// virtio-mmio devices: 4 KiB slots from the start of the hole, their
// interrupts on IOAPIC pins from 5 on.
inline constexpr uint64_t virtio_mmio_base = mmio_hole_start;
inline constexpr uint64_t virtio_mmio_slot_size = 0x1000;
inline constexpr uint32_t virtio_first_irq = 5;
inline constexpr uint32_t virtio_max_devices = 16; // IOAPIC pins 5..20.

// Addresses KVM needs for itself on Intel hosts (TSS and the identity-map page
// for real mode); both just below the IOAPIC/LAPIC area, outside RAM.
inline constexpr uint64_t kvm_tss_address = 0xfffbd000;
inline constexpr uint64_t kvm_identity_map_address = 0xfffbc000;

inline constexpr uint64_t ioapic_address = 0xfec00000;
inline constexpr uint64_t lapic_address = 0xfee00000;

// ISA devices.
inline constexpr uint16_t serial_port_base = 0x3f8;
inline constexpr uint32_t serial_irq = 4;
inline constexpr uint16_t i8042_data_port = 0x60;
inline constexpr uint16_t i8042_command_port = 0x64;
inline constexpr uint16_t cmos_port_base = 0x70; // Index at 0x70, data at 0x71.

// The least RAM vmm accepts: the boot structures, a kernel and some room.
inline constexpr uint64_t minimum_memory_size = 8 * MiB;
inline constexpr uint64_t maximum_memory_size = 1024 * GiB;

}
