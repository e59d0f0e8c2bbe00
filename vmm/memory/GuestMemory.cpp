#include "vmm/memory/GuestMemory.h"

#include "common/Error.h"

#include <algorithm>
#include <fmt/format.h>
#include <limits>

namespace vmm {

GuestMemory GuestMemory::create(std::span<RamRange const> ranges, HugePages huge_pages)
{
    GuestMemory memory;
    for (auto const& range : ranges)
        memory.m_regions.push_back({ range.start, MappedRegion::anonymous(range.size, huge_pages) });
    return memory;
}

GuestMemory GuestMemory::create_flat(uint64_t size, GuestAddress guest_address)
{
    GuestMemory memory;
    memory.m_regions.push_back({ guest_address, MappedRegion::anonymous(size) });
    return memory;
}

uint64_t GuestMemory::size() const
{
    uint64_t total = 0;
    for (auto const& region : m_regions)
        total += region.mapping.size();
    return total;
}

std::optional<std::span<uint8_t>> GuestMemory::try_slice(GuestAddress address, uint64_t length) const
{
    for (auto const& region : m_regions) {
        uint64_t const region_size = region.mapping.size();
        if (address < region.guest_address)
            continue;
        uint64_t const offset = address - region.guest_address;
        // Written so that no addition can overflow: offset <= size, then length <= size - offset.
        if (offset > region_size || length > region_size - offset)
            continue;
        return region.mapping.bytes().subspan(offset, length);
    }
    return std::nullopt;
}

std::span<uint8_t> GuestMemory::slice(GuestAddress address, uint64_t length) const
{
    auto bytes = try_slice(address, length);
    if (!bytes)
        throw Error(fmt::format("guest memory access [{:#x}, +{:#x}) is outside guest RAM", address, length));
    return *bytes;
}

void GuestMemory::write_bytes(GuestAddress address, std::span<uint8_t const> bytes) const
{
    std::ranges::copy(bytes, slice(address, bytes.size()).begin());
}

void GuestMemory::read_bytes(GuestAddress address, std::span<uint8_t> bytes) const
{
    std::ranges::copy(slice(address, bytes.size()), bytes.begin());
}

}
