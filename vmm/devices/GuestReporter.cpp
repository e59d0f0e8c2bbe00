#include "vmm/devices/GuestReporter.h"

#include "guest/protocol.h"

#include <algorithm>

namespace vmm {

static_assert(VMM_BOOT_MARKER_PORT == VMM_EXIT_STATUS_PORT + 1, "GuestReporter covers both ports as one range");

void GuestReporter::read(uint64_t, std::span<uint8_t> data)
{
    std::ranges::fill(data, 0);
}

void GuestReporter::write(uint64_t offset, std::span<uint8_t const> data)
{
    if (data.empty())
        return;
    if (offset == 0)
        m_on_exit_status(data[0]);
    else
        m_on_boot_marker();
}

}
