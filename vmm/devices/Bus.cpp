#include "vmm/devices/Bus.h"

#include "common/Error.h"

#include <algorithm>
#include <fmt/format.h>

namespace vmm {

void Bus::add(uint64_t base, uint64_t length, std::shared_ptr<Device> device)
{
    auto const next = m_ranges.lower_bound(base);
    bool overlaps = next != m_ranges.end() && next->first < base + length;
    if (next != m_ranges.begin()) {
        auto const previous = std::prev(next);
        overlaps = overlaps || previous->first + previous->second.length > base;
    }
    if (length == 0 || overlaps)
        throw Error(fmt::format("device {} at [{:#x}, +{:#x}) overlaps another device", device->name(), base, length));
    m_ranges.emplace(base, Range { length, std::move(device) });
}

Bus::Range const* Bus::find(uint64_t address, uint64_t& offset) const
{
    auto it = m_ranges.upper_bound(address);
    if (it == m_ranges.begin())
        return nullptr;
    --it;
    offset = address - it->first;
    if (offset >= it->second.length)
        return nullptr;
    return &it->second;
}

bool Bus::read(uint64_t address, std::span<uint8_t> data) const
{
    uint64_t offset = 0;
    auto const* range = find(address, offset);
    if (!range) {
        std::ranges::fill(data, 0xff);
        return false;
    }
    range->device->read(offset, data);
    return true;
}

bool Bus::write(uint64_t address, std::span<uint8_t const> data) const
{
    uint64_t offset = 0;
    auto const* range = find(address, offset);
    if (!range)
        return false;
    range->device->write(offset, data);
    return true;
}

}
