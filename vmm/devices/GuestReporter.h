#pragma once

#include "vmm/devices/Device.h"

#include <functional>

namespace vmm {

// The two ports guest/init reports through (guest/protocol.h): a byte
// written to VMM_EXIT_STATUS_PORT is the command's exit status; any write to
// VMM_BOOT_MARKER_PORT marks that init is up.
class GuestReporter final : public Device {
public:
    GuestReporter(std::function<void(uint8_t status)> on_exit_status, std::function<void()> on_boot_marker)
        : m_on_exit_status(std::move(on_exit_status))
        , m_on_boot_marker(std::move(on_boot_marker))
    {
    }

    static constexpr uint64_t port_count = 2;

    std::string name() const override { return "guest-reporter"; }
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<uint8_t const> data) override;

private:
    std::function<void(uint8_t)> m_on_exit_status;
    std::function<void()> m_on_boot_marker;
};

}
