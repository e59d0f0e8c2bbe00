#include "vmm/devices/CmosRtc.h"

#include <algorithm>
#include <ctime>

namespace vmm {

namespace {

uint8_t to_bcd(int value)
{
    return static_cast<uint8_t>(((value / 10) << 4) | (value % 10));
}

}

uint8_t CmosRtc::register_value(uint8_t index, long now)
{
    time_t const seconds = now;
    tm time {};
    gmtime_r(&seconds, &time);
    switch (index) {
    case 0x00:
        return to_bcd(time.tm_sec);
    case 0x02:
        return to_bcd(time.tm_min);
    case 0x04:
        return to_bcd(time.tm_hour);
    case 0x06:
        return to_bcd(time.tm_wday + 1);
    case 0x07:
        return to_bcd(time.tm_mday);
    case 0x08:
        return to_bcd(time.tm_mon + 1);
    case 0x09:
        return to_bcd(time.tm_year % 100);
    case 0x32:
        return to_bcd(19 + time.tm_year / 100);
    case 0x0a:
        return 0x26; // Status A: 32.768 kHz time base, no update in progress.
    case 0x0b:
        return 0x02; // Status B: 24-hour mode, BCD.
    case 0x0d:
        return 0x80; // Status D: the battery is good.
    default:
        return 0;
    }
}

void CmosRtc::read(uint64_t offset, std::span<uint8_t> data)
{
    std::ranges::fill(data, 0);
    if (data.empty() || offset != 1)
        return;
    std::lock_guard lock(m_mutex);
    data[0] = register_value(m_index, static_cast<long>(std::time(nullptr)));
}

void CmosRtc::write(uint64_t offset, std::span<uint8_t const> data)
{
    if (data.empty() || offset != 0)
        return;
    std::lock_guard lock(m_mutex);
    m_index = data[0] & 0x7f; // Bit 7 gates NMIs, not part of the index.
}

}
