// KVM's binary statistics (KVM_GET_STATS_FD) as vmm reads them for --timings:
// a made-up file, so that the layout is checked on any host.
#include "common/Error.h"
#include "vmm/kvm/Statistics.h"

#include <cstring>
#include <gtest/gtest.h>
#include <linux/kvm.h>

using namespace vmm;
using namespace vmm::kvm;

namespace {

constexpr uint32_t name_size = 48;

struct Described {
    char const* name;
    uint32_t flags;
    uint16_t size;
    uint32_t offset;
};

// A header, an id and `descriptors`, laid out as the kernel does; the data block follows them.
std::vector<uint8_t> statistics_layout(std::vector<Described> const& descriptors)
{
    uint32_t const descriptor_size = 16 + name_size;
    uint32_t const id_offset = 24;
    uint32_t const desc_offset = id_offset + name_size;
    uint32_t const data_offset = desc_offset + descriptor_size * static_cast<uint32_t>(descriptors.size());
    std::vector<uint8_t> bytes(data_offset);
    uint32_t const header[6] = { 0, name_size, static_cast<uint32_t>(descriptors.size()), id_offset, desc_offset, data_offset };
    std::memcpy(bytes.data(), header, sizeof(header));
    std::memcpy(bytes.data() + id_offset, "kvm-1234/vcpu-0", 15);
    for (size_t index = 0; index < descriptors.size(); ++index) {
        auto* start = bytes.data() + desc_offset + index * descriptor_size;
        std::memcpy(start, &descriptors[index].flags, 4);
        std::memcpy(start + 6, &descriptors[index].size, 2);
        std::memcpy(start + 8, &descriptors[index].offset, 4);
        std::strncpy(reinterpret_cast<char*>(start + 16), descriptors[index].name, name_size);
    }
    return bytes;
}

}

TEST(KvmStatistics, KeepsCountersAndInstantsWithTheirOffsets)
{
    auto const bytes = statistics_layout({
        { "exits", KVM_STATS_TYPE_CUMULATIVE, 1, 0 },
        { "halt_poll_success_hist", KVM_STATS_TYPE_LOG_HIST, 32, 8 },
        { "guest_mode", KVM_STATS_TYPE_INSTANT, 1, 264 },
        { "halt_poll_fail_ns_peak", KVM_STATS_TYPE_PEAK, 1, 272 },
        { "pf_fixed", KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_NONE, 1, 280 },
    });
    auto const [counters, data_offset] = StatisticsFile::parse(bytes, "vCPU 0");
    EXPECT_EQ(data_offset, bytes.size());
    ASSERT_EQ(counters.size(), 3u) << "histograms and peaks are left out";
    EXPECT_EQ(counters[0].name, "exits");
    EXPECT_EQ(counters[0].offset, 0u);
    EXPECT_EQ(counters[1].name, "guest_mode");
    EXPECT_EQ(counters[2].name, "pf_fixed");
    EXPECT_EQ(counters[2].offset, 280u);
}

TEST(KvmStatistics, ALayoutBeyondTheBytesIsAnError)
{
    auto bytes = statistics_layout({ { "exits", KVM_STATS_TYPE_CUMULATIVE, 1, 0 } });
    bytes.resize(bytes.size() - 1);
    EXPECT_THROW(StatisticsFile::parse(bytes, "vCPU 0"), Error);
    EXPECT_THROW(StatisticsFile::parse(std::vector<uint8_t>(10), "vCPU 0"), Error);
}

TEST(KvmStatistics, DescriptionLeavesOutZeros)
{
    EXPECT_EQ(describe_statistics({ { "exits", 12 }, { "halt_exits", 0 }, { "pf_fixed", 3 } }), "exits 12, pf_fixed 3");
    EXPECT_EQ(describe_statistics({ { "exits", 0 } }), "all zero");
}
