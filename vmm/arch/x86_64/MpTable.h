#pragma once

#include "vmm/memory/GuestMemory.h"

#include <cstdint>
#include <vector>

namespace vmm::x86_64 {

// The Intel MultiProcessor Specification 1.4 tables that tell a guest without
// ACPI about its CPUs, its IOAPIC and how ISA interrupts reach it: a floating
// pointer followed by a configuration table with processor, bus, IOAPIC,
// I/O-interrupt and local-interrupt entries.
std::vector<uint8_t> build_mptable(uint32_t cpu_count, uint64_t table_address);

// Writes the table at mptable_address. Throws if `cpu_count` is 0 or above 254.
void write_mptable(GuestMemory const& memory, uint32_t cpu_count);

// The number of IOAPIC pins (and so of ISA/GSI lines the table routes).
inline constexpr uint32_t ioapic_pin_count = 24;

}
