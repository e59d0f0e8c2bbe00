#pragma once

#include "vmm/devices/Device.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

namespace vmm {

// The PC keyboard controller, as much of it as Linux's i8042 driver probes:
// the controller command byte (CTR), the self and interface tests, port
// enable/disable, and the "pulse reset line" command (0xfe on port 0x64)
// that resets the machine. No keyboard is attached. Registered at 0x60-0x64.
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
    void run_command(uint8_t command);

    std::mutex m_mutex;
    std::function<void()> m_on_reset;
    std::deque<uint8_t> m_output;        // Bytes for the guest to read from port 0x60.
    uint8_t m_control { 0x45 };          // Keyboard interrupt, system flag, translation.
    uint8_t m_pending_command { 0 };     // A command waiting for its data byte on port 0x60.
};

}
