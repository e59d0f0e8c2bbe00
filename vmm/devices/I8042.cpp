#include "devices/I8042.h"

#include <algorithm>

namespace vmm {

namespace {
constexpr uint64_t command_port_offset = 4; // 0x64 from 0x60.
constexpr uint8_t command_pulse_reset = 0xfe;
}

void I8042::read(uint64_t, std::span<uint8_t> data)
{
    // Data port: no scancode; status port: output and input buffers empty.
    std::ranges::fill(data, 0);
}

void I8042::write(uint64_t offset, std::span<uint8_t const> data)
{
    if (offset == command_port_offset && !data.empty() && data[0] == command_pulse_reset)
        m_on_reset();
}

}
