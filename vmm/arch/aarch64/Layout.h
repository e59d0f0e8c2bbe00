#pragma once

// The aarch64 guest physical memory map, in one place (after Firecracker's
// arch/aarch64/layout and QEMU's virt board): devices in the first GiB, RAM
// from 1 GiB up. Every address vmm puts something at is named here. This
// header and the device tree builder use no KVM header, so that they build
// and are tested on any host.

#include "guest/protocol.h"

#include <cstdint>

namespace vmm::aarch64 {

inline constexpr uint64_t KiB = 1024;
inline constexpr uint64_t MiB = 1024 * KiB;
inline constexpr uint64_t GiB = 1024 * MiB;

// The GICv3: the distributor, then one redistributor (RD_base and SGI_base
// frames, 64 KiB each) per vCPU.
inline constexpr uint64_t gic_distributor_base = 0x08000000;
inline constexpr uint64_t gic_distributor_size = 0x10000;
inline constexpr uint64_t gic_redistributor_base = 0x080a0000;
inline constexpr uint64_t gic_redistributor_size_per_cpu = 0x20000;
inline constexpr uint32_t max_cpus = 32;
static_assert(gic_redistributor_base + max_cpus * gic_redistributor_size_per_cpu <= 0x09000000);
// SPIs the GIC implements (a multiple of 32 past the 32 private interrupts).
inline constexpr uint32_t gic_interrupt_count = 128;

// The architected timer's private interrupts (PPIs), as GIC INTID - 16,
// the way a device tree names them: secure, non-secure, virtual, hypervisor.
inline constexpr uint32_t timer_secure_ppi = 13;
inline constexpr uint32_t timer_non_secure_ppi = 14;
inline constexpr uint32_t timer_virtual_ppi = 11;
inline constexpr uint32_t timer_hypervisor_ppi = 10;

// The 16550 UART (vmm's 8250 on the MMIO bus, one byte per register).
inline constexpr uint64_t serial_base = 0x09000000;
inline constexpr uint64_t serial_size = 0x1000;
inline constexpr uint32_t serial_spi = 1;

// guest/init's report page: the exit status at +0, the boot marker at +1.
inline constexpr uint64_t guest_reporter_base = VMM_REPORT_MMIO_ADDRESS;
inline constexpr uint64_t guest_reporter_size = 0x1000;
static_assert(guest_reporter_base >= serial_base + serial_size);

// virtio-mmio devices: 4 KiB slots, their interrupts on SPIs from 16 on.
inline constexpr uint64_t virtio_mmio_base = 0x0a000000;
inline constexpr uint64_t virtio_mmio_slot_size = 0x1000;
inline constexpr uint32_t virtio_first_spi = 16;
inline constexpr uint32_t virtio_max_devices = 32;
static_assert(virtio_first_spi + virtio_max_devices <= gic_interrupt_count - 32);

// RAM from 1 GiB (2 MiB aligned, as the arm64 boot protocol wants the
// kernel's base), at most up to the 40-bit IPA space KVM gives every VM.
inline constexpr uint64_t ram_base = 1 * GiB;
inline constexpr uint64_t minimum_memory_size = 16 * MiB;
inline constexpr uint64_t maximum_memory_size = 512 * GiB;

// The kernel Image goes at ram_base + its text_offset; the device tree in the
// last 2 MiB of RAM (2 MiB aligned, as Documentation/arm64/booting.rst
// asks: the kernel maps it with 2 MiB blocks), the initrd just below it.
inline constexpr uint64_t kernel_alignment = 2 * MiB;
inline constexpr uint64_t device_tree_max_size = 2 * MiB;
inline constexpr uint64_t initrd_alignment = 4 * KiB;

// COMMAND_LINE_SIZE of arm64 Linux, with its terminating zero.
inline constexpr uint64_t cmdline_max_size = 2048;

}
