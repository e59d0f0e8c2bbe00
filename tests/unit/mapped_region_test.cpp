// Guest RAM mappings: transparent huge pages need a 2 MiB aligned start.
#include "common/MappedRegion.h"

#include <cstdint>
#include <gtest/gtest.h>

using namespace vmm;

TEST(MappedRegion, TransparentHugePagesStartOnA2MiBBoundary)
{
    constexpr size_t huge_page = 2 * 1024 * 1024;
    // Several, so that one aligned by chance does not hide a missing alignment.
    std::vector<MappedRegion> regions;
    for (size_t index = 0; index < 4; ++index) {
        size_t const size = 3 * huge_page + index * 4096;
        regions.push_back(MappedRegion::anonymous(size, HugePages::Transparent));
        auto const& region = regions.back();
        EXPECT_EQ(reinterpret_cast<uintptr_t>(region.data()) % huge_page, 0u);
        EXPECT_EQ(region.size(), size);
        // Both ends are mapped and writable.
        region.data()[0] = 1;
        region.data()[size - 1] = 2;
        EXPECT_EQ(region.data()[0] + region.data()[size - 1], 3);
    }
}
