// The MP table against the MultiProcessor Specification 1.4: signatures, lengths and checksums.
#include "vmm/arch/x86_64/Layout.h"
#include "vmm/arch/x86_64/MpTable.h"
#include "common/Error.h"

#include <cstring>
#include <gtest/gtest.h>
#include <numeric>

using namespace vmm;
using namespace vmm::x86_64;

namespace {
uint8_t byte_sum(uint8_t const* bytes, size_t length)
{
    return static_cast<uint8_t>(std::accumulate(bytes, bytes + length, 0u));
}
}

TEST(MpTable, ChecksumsAndStructureForSeveralCpuCounts)
{
    for (uint32_t cpus : { 1u, 2u, 4u, 32u }) {
        auto const table = build_mptable(cpus, mptable_address);
        ASSERT_GE(table.size(), 60u);
        EXPECT_EQ(std::memcmp(table.data(), "_MP_", 4), 0);
        EXPECT_EQ(byte_sum(table.data(), 16), 0) << "floating pointer checksum, " << cpus << " CPUs";
        uint32_t header_address = 0;
        std::memcpy(&header_address, table.data() + 4, 4);
        EXPECT_EQ(header_address, mptable_address + 16);

        uint8_t const* header = table.data() + 16;
        EXPECT_EQ(std::memcmp(header, "PCMP", 4), 0);
        uint16_t length = 0;
        std::memcpy(&length, header + 4, 2);
        EXPECT_EQ(length, table.size() - 16);
        EXPECT_EQ(byte_sum(header, length), 0) << "configuration table checksum, " << cpus << " CPUs";
        uint16_t entries = 0;
        std::memcpy(&entries, header + 34, 2);
        EXPECT_EQ(entries, cpus + 1 + 1 + ioapic_pin_count + 2);

        // Walk the entries: one processor entry per CPU, the first the bootstrap processor.
        uint8_t const* entry = header + 44;
        for (uint32_t cpu = 0; cpu < cpus; ++cpu) {
            EXPECT_EQ(entry[0], 0) << "processor entry";
            EXPECT_EQ(entry[1], cpu) << "APIC id";
            EXPECT_EQ(entry[3] & 1, 1) << "enabled";
            EXPECT_EQ((entry[3] >> 1) & 1, cpu == 0 ? 1 : 0) << "bootstrap flag";
            entry += 20;
        }
        EXPECT_EQ(entry[0], 1) << "bus entry";
        EXPECT_EQ(std::memcmp(entry + 2, "ISA", 3), 0);
        entry += 8;
        EXPECT_EQ(entry[0], 2) << "IOAPIC entry";
        EXPECT_EQ(entry[1], cpus) << "IOAPIC id follows the CPUs'";
        EXPECT_LE(table.size(), base_memory_end - mptable_address);
    }
}

TEST(MpTable, RejectsImpossibleCpuCounts)
{
    EXPECT_THROW(build_mptable(0, mptable_address), Error);
    EXPECT_THROW(build_mptable(255, mptable_address), Error);
}

TEST(MpTable, WrittenWhereLinuxLooks)
{
    auto memory = GuestMemory::create_flat(1 * MiB);
    write_mptable(memory, 2);
    EXPECT_EQ(std::memcmp(memory.slice(0x9fc00, 4).data(), "_MP_", 4), 0) << "Linux scans the last KiB of base memory";
}
