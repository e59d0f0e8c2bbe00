#pragma once

#include "vmm/devices/Device.h"

#include <mutex>

namespace vmm {

// The MC146818 real-time clock behind ports 0x70 (index) and 0x71 (data),
// reading the host's UTC time in BCD. Linux reads it once at boot for the
// wall clock when no paravirtual clock gives it.
class CmosRtc final : public Device {
public:
    std::string name() const override { return "cmos-rtc"; }
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<uint8_t const> data) override;

    // The value of CMOS register `index` at host time `now` (seconds since the epoch).
    static uint8_t register_value(uint8_t index, long now);

private:
    std::mutex m_mutex;
    uint8_t m_index { 0 };
};

}
