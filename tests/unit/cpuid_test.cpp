// The guest's XSAVE leaf (0xD) from made-up host tables: what a Linux guest
// cross-checks (component sizes, the largest area, the feature flags) must agree.
#include "vmm/arch/x86_64/Cpuid.h"

#include <gtest/gtest.h>
#include <initializer_list>
#include <optional>

using namespace vmm;
using namespace vmm::x86_64;

namespace {

constexpr uint32_t leaf1_fma = 1u << 12;
constexpr uint32_t leaf1_xsave = 1u << 26;
constexpr uint32_t leaf1_avx = 1u << 28;
constexpr uint32_t leaf7_avx2 = 1u << 5;
constexpr uint32_t leaf7_avx512f = 1u << 16;
constexpr uint32_t leaf7_avx512bw = 1u << 30;
constexpr uint32_t leaf7_ecx_pku = 1u << 3;
constexpr uint32_t leaf7_edx_amx_tile = 1u << 24;

kvm_cpuid_entry2 entry(uint32_t function, uint32_t index, uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx)
{
    kvm_cpuid_entry2 result {};
    result.function = function;
    result.index = index;
    result.eax = eax;
    result.ebx = ebx;
    result.ecx = ecx;
    result.edx = edx;
    return result;
}

kvm::CpuidList table(std::initializer_list<kvm_cpuid_entry2> entries)
{
    kvm::CpuidList list(entries.size());
    list.set_count(entries.size());
    size_t index = 0;
    for (auto const& item : entries)
        list.entries()[index++] = item;
    return list;
}

std::optional<kvm_cpuid_entry2> find(kvm::CpuidList const& list, uint32_t function, uint32_t index)
{
    for (auto const& item : list.entries()) {
        if (item.function == function && item.index == index)
            return item;
    }
    return std::nullopt;
}

// A host with AVX and AVX2 whose KVM also lists AVX-512 state in leaf 0xD
// (as a KVM does when the host has AVX-512 but the flags were masked), with
// subleaf 0's sizes for all of it.
kvm::CpuidList avx2_host_listing_avx512_state()
{
    return table({
        entry(0, 0, 0x1d, 0x68747541, 0x444d4163, 0x69746e65),
        entry(1, 0, 0x00a00f11, 0x00000800, leaf1_xsave | leaf1_avx | leaf1_fma, 0x178bfbff),
        entry(7, 0, 0, leaf7_avx2, 0, 0),
        entry(0xd, 0, 0xe7, 0x340, 0x988, 0),
        entry(0xd, 1, 0xf, 0x340, 0, 0),
        entry(0xd, 2, 256, 576, 0, 0),
        entry(0xd, 5, 64, 1088, 0, 0),
        entry(0xd, 6, 512, 1152, 0, 0),
        entry(0xd, 7, 1024, 1664, 0, 0),
        entry(0x80000008, 0, 0x3030, 0, 0, 0),
    });
}

}

TEST(XsaveLeaf, StateOfHiddenFeaturesIsRemovedAndTheSizesFollow)
{
    auto cpuid = avx2_host_listing_avx512_state();
    auto const report = make_xsave_consistent(cpuid);
    EXPECT_TRUE(report.xsave_exposed);
    EXPECT_EQ(report.xcr0, 0x7u) << "x87, SSE and YMM only";

    auto const main_leaf = find(cpuid, 0xd, 0);
    ASSERT_TRUE(main_leaf);
    EXPECT_EQ(main_leaf->eax, 0x7u);
    EXPECT_EQ(main_leaf->edx, 0u);
    EXPECT_EQ(main_leaf->ecx, 576u + 256u) << "the largest area is legacy + header + YMM, not the host's 0x988";
    EXPECT_EQ(main_leaf->ebx, 576u) << "the area for XCR0 at reset (x87)";
    auto const compacted_leaf = find(cpuid, 0xd, 1);
    ASSERT_TRUE(compacted_leaf);
    EXPECT_EQ(compacted_leaf->eax, 0xfu) << "the instruction flags stay";
    EXPECT_EQ(compacted_leaf->ebx, 576u);
    ASSERT_TRUE(find(cpuid, 0xd, 2));
    EXPECT_EQ(find(cpuid, 0xd, 2)->eax, 256u);
    EXPECT_EQ(find(cpuid, 0xd, 2)->ebx, 576u);
    for (uint32_t component : { 5u, 6u, 7u })
        EXPECT_FALSE(find(cpuid, 0xd, component)) << "subleaf " << component << " of hidden AVX-512 state";
    EXPECT_FALSE(report.notes.empty()) << "-v says what was removed";

    // The other leaves are left as they were.
    EXPECT_EQ(cpuid.entries().size(), 7u);
    EXPECT_EQ(find(cpuid, 1, 0)->ecx, leaf1_xsave | leaf1_avx | leaf1_fma);
    EXPECT_EQ(find(cpuid, 7, 0)->ebx, leaf7_avx2);
    EXPECT_EQ(find(cpuid, 0x80000008, 0)->eax, 0x3030u);
}

TEST(XsaveLeaf, ConsistentAvx512HostKeepsEverything)
{
    auto cpuid = avx2_host_listing_avx512_state();
    for (auto& item : cpuid.entries()) {
        if (item.function == 7)
            item.ebx |= leaf7_avx512f | leaf7_avx512bw;
    }
    auto const report = make_xsave_consistent(cpuid);
    EXPECT_EQ(report.xcr0, 0xe7u);
    EXPECT_EQ(find(cpuid, 0xd, 0)->ecx, 2688u) << "Hi16_ZMM ends at 1664 + 1024";
    EXPECT_EQ(report.max_size, 2688u);
    for (uint32_t component : { 2u, 5u, 6u, 7u })
        EXPECT_TRUE(find(cpuid, 0xd, component)) << "subleaf " << component;
    EXPECT_EQ(find(cpuid, 7, 0)->ebx, leaf7_avx2 | leaf7_avx512f | leaf7_avx512bw);
}

TEST(XsaveLeaf, ComponentWithTheWrongSizeHidesItsFeatures)
{
    auto cpuid = avx2_host_listing_avx512_state();
    for (auto& item : cpuid.entries()) {
        if (item.function == 7)
            item.ebx |= leaf7_avx512f | leaf7_avx512bw;
        if (item.function == 0xd && item.index == 6)
            item.eax = 256; // ZMM_Hi256 is 512 bytes.
    }
    auto const report = make_xsave_consistent(cpuid);
    EXPECT_EQ(report.xcr0, 0x7u);
    EXPECT_EQ(find(cpuid, 7, 0)->ebx, leaf7_avx2) << "AVX-512 flags cleared with their state";
    EXPECT_EQ(find(cpuid, 0xd, 0)->ecx, 832u);
    ASSERT_FALSE(report.notes.empty());
    EXPECT_NE(report.notes.back().find("AVX-512 hidden: component 6 is 256 bytes, not 512"), std::string::npos) << report.notes.back();
}

TEST(XsaveLeaf, HidingAvxHidesAvx512AndTheVexFeatures)
{
    auto cpuid = avx2_host_listing_avx512_state();
    for (auto& item : cpuid.entries()) {
        if (item.function == 7)
            item.ebx |= leaf7_avx512f;
    }
    // YMM without a size: AVX cannot be shown, and AVX-512 builds on it.
    for (auto& item : cpuid.entries()) {
        if (item.function == 0xd && item.index == 2)
            item.eax = 0;
    }
    auto const report = make_xsave_consistent(cpuid);
    EXPECT_TRUE(report.xsave_exposed);
    EXPECT_EQ(report.xcr0, 0x3u);
    EXPECT_EQ(find(cpuid, 1, 0)->ecx, leaf1_xsave) << "AVX and FMA cleared";
    EXPECT_EQ(find(cpuid, 7, 0)->ebx, 0u) << "AVX2 and AVX512F cleared";
    EXPECT_EQ(find(cpuid, 0xd, 0)->ecx, 576u);
    EXPECT_FALSE(find(cpuid, 0xd, 2));
}

TEST(XsaveLeaf, NoLeafDHidesXsave)
{
    auto cpuid = table({
        entry(1, 0, 0, 0, leaf1_xsave | leaf1_avx | leaf1_fma, 0),
        entry(7, 0, 0, leaf7_avx2 | leaf7_avx512f, 0, 0),
    });
    auto const report = make_xsave_consistent(cpuid);
    EXPECT_FALSE(report.xsave_exposed);
    EXPECT_EQ(find(cpuid, 1, 0)->ecx, 0u) << "XSAVE, AVX and FMA cleared";
    EXPECT_EQ(find(cpuid, 7, 0)->ebx, 0u);
    ASSERT_EQ(report.notes.size(), 1u);
    EXPECT_EQ(report.notes[0], "XSAVE hidden: there is no leaf 0xd");
}

TEST(XsaveLeaf, OverlappingComponentsHideXsave)
{
    auto cpuid = avx2_host_listing_avx512_state();
    for (auto& item : cpuid.entries()) {
        if (item.function == 0xd && item.index == 2)
            item.ebx = 512; // Inside the legacy region.
    }
    auto const report = make_xsave_consistent(cpuid);
    EXPECT_FALSE(report.xsave_exposed);
    EXPECT_FALSE(find(cpuid, 0xd, 0));
    EXPECT_FALSE(find(cpuid, 0xd, 2));
    EXPECT_EQ(find(cpuid, 1, 0)->ecx & (leaf1_xsave | leaf1_avx), 0u);
}

TEST(XsaveLeaf, PkruAndAmxFollowTheirFlagsAndPalettes)
{
    auto cpuid = table({
        entry(1, 0, 0, 0, leaf1_xsave | leaf1_avx, 0),
        entry(7, 0, 0, 0, leaf7_ecx_pku, leaf7_edx_amx_tile),
        entry(0xd, 0, 0x60207, 0x340, 0x2b00, 0),
        entry(0xd, 1, 0x1f, 0x340, 0, 0),
        entry(0xd, 2, 256, 576, 0, 0),
        entry(0xd, 9, 8, 2688, 0, 0),
        entry(0xd, 17, 64, 2752, 0, 0),
        entry(0xd, 18, 8192, 2816, 2, 0),
        entry(0x1d, 0, 1, 0, 0, 0),
        entry(0x1d, 1, 0x4002000, 0x80040, 0x10, 0),
    });
    auto good = cpuid;
    auto const report = make_xsave_consistent(good);
    EXPECT_EQ(report.xcr0, 0x60207u);
    EXPECT_EQ(find(good, 0xd, 0)->ecx, 2816u + 8192u);

    // A palette of 4 tiles does not fill 8192 bytes of tile data: AMX goes, PKRU stays.
    for (auto& item : cpuid.entries()) {
        if (item.function == 0x1d && item.index == 1)
            item.ebx = 0x40040;
    }
    auto const without_amx = make_xsave_consistent(cpuid);
    EXPECT_EQ(without_amx.xcr0, 0x207u);
    EXPECT_EQ(find(cpuid, 7, 0)->edx, 0u) << "AMX-TILE cleared";
    EXPECT_EQ(find(cpuid, 7, 0)->ecx, leaf7_ecx_pku);
    EXPECT_EQ(find(cpuid, 0xd, 0)->ecx, 2696u) << "PKRU ends at 2688 + 8";
    EXPECT_FALSE(find(cpuid, 0xd, 18));
}

TEST(XsaveLeaf, SupervisorComponentsNeedXsaves)
{
    auto cpuid = avx2_host_listing_avx512_state();
    for (auto& item : cpuid.entries()) {
        if (item.function == 0xd && item.index == 1) {
            item.eax = 0x7; // XSAVEOPT, XSAVEC, XGETBV1: no XSAVES.
            item.ecx = 1u << 8;
        }
    }
    auto const report = make_xsave_consistent(cpuid);
    EXPECT_EQ(report.xss, 0u);
    EXPECT_EQ(find(cpuid, 0xd, 1)->ecx, 0u);
}
