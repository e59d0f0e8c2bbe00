#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace vmm {

// A device on the I/O-port or MMIO bus. `offset` is relative to the start of
// the range the device was registered at; `data` is the access (1, 2, 4 or 8
// bytes). Devices are called from vCPU threads concurrently and lock
// themselves.
class Device {
public:
    virtual ~Device() = default;
    virtual std::string name() const = 0;
    virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
    virtual void write(uint64_t offset, std::span<uint8_t const> data) = 0;
};

}
