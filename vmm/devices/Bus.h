#pragma once

#include "vmm/devices/Device.h"

#include <cstdint>
#include <map>
#include <memory>
#include <span>

namespace vmm {

// Maps address ranges to devices: one Bus for I/O ports, one for MMIO.
// Devices are registered in one place (machine/Machine.cpp) before the vCPUs
// start; lookups afterwards need no lock because the map no longer changes.
class Bus {
public:
    // Registers `device` for [base, base + length). Throws if the range overlaps another.
    void add(uint64_t base, uint64_t length, std::shared_ptr<Device> device);

    // Dispatches an access; returns false when no device claims the address
    // (reads then see all ones, as on a real bus).
    bool read(uint64_t address, std::span<uint8_t> data) const;
    bool write(uint64_t address, std::span<uint8_t const> data) const;

private:
    struct Range {
        uint64_t length;
        std::shared_ptr<Device> device;
    };
    Range const* find(uint64_t address, uint64_t& offset) const;

    std::map<uint64_t, Range> m_ranges;
};

}
