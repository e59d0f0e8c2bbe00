#pragma once

// The flattened device tree that tells an arm64 guest its hardware: memory,
// the vCPUs and PSCI, the GICv3, the architected timer, the 16550 UART, one
// virtio-mmio node per device, and /chosen with the command line and the
// initrd. Built with libfdt's sequential-write API and checked with
// fdt_check_full; no KVM header, so that it is tested on any host.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vmm::aarch64 {

struct DeviceTreeVirtioDevice {
    uint64_t mmio_base;
    uint64_t mmio_size;
    uint32_t spi; // GIC INTID - 32.
};

struct DeviceTreeInitrd {
    uint64_t start;
    uint64_t end; // Exclusive, as linux,initrd-end is.
};

struct DeviceTreeDescription {
    uint64_t memory_base { 0 };
    uint64_t memory_size { 0 };
    // One entry per vCPU: its MPIDR_EL1 affinity (what KVM gave it), the cpu node's reg.
    std::vector<uint64_t> cpu_affinities;
    std::string bootargs;
    std::optional<DeviceTreeInitrd> initrd;
    std::vector<DeviceTreeVirtioDevice> virtio_devices;
};

// Builds the device tree for the machine of aarch64/Layout.h. Throws an
// Error naming the libfdt call that failed, or the check that did.
std::vector<uint8_t> build_device_tree(DeviceTreeDescription const& description);

}
