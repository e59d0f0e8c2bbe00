#pragma once

#include "devices/Device.h"

#include <functional>

namespace vmm {

// The part of the PC keyboard controller that a microVM needs: the status
// port reads "nothing pending", and the "pulse reset line" command (0xfe
// written to port 0x64) resets the machine. Registered at 0x60-0x64.
class I8042 final : public Device {
public:
    explicit I8042(std::function<void()> on_reset)
        : m_on_reset(std::move(on_reset))
    {
    }

    std::string name() const override { return "i8042"; }
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<uint8_t const> data) override;

private:
    std::function<void()> m_on_reset;
};

}
