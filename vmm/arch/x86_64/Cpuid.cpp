#include "vmm/arch/x86_64/Cpuid.h"

#include <algorithm>
#include <array>
#include <bit>
#include <fmt/format.h>
#include <span>

namespace vmm::x86_64 {

namespace {

constexpr uint32_t xsave_leaf = 0xd;
constexpr uint32_t tile_leaf = 0x1d;
constexpr uint32_t tile_bytes = 1024; // One AMX tile register: 16 rows of 64 bytes.

// Subleaf 1, EAX.
constexpr uint32_t xsavec_bit = 1u << 1;
constexpr uint32_t xsaves_bit = 1u << 3;
// Subleaves 2-63, ECX.
constexpr uint32_t component_supervisor_bit = 1u << 0;

enum class Register {
    Eax,
    Ebx,
    Ecx,
    Edx,
};

struct FeatureBit {
    uint32_t function;
    uint32_t index;
    Register reg;
    uint32_t bit;
};

constexpr FeatureBit xsave_feature { 1, 0, Register::Ecx, 26 };
constexpr FeatureBit osxsave_feature { 1, 0, Register::Ecx, 27 };

// Everything whose instructions use the YMM state (VEX encodings).
constexpr FeatureBit avx_features[] = {
    { 1, 0, Register::Ecx, 28 },          // AVX: enumerates the group.
    { 1, 0, Register::Ecx, 12 },          // FMA
    { 1, 0, Register::Ecx, 29 },          // F16C
    { 7, 0, Register::Ebx, 5 },           // AVX2
    { 7, 0, Register::Ecx, 9 },           // VAES
    { 7, 0, Register::Ecx, 10 },          // VPCLMULQDQ
    { 7, 1, Register::Eax, 4 },           // AVX-VNNI
    { 7, 1, Register::Eax, 23 },          // AVX-IFMA
    { 0x80000001, 0, Register::Ecx, 11 }, // XOP
    { 0x80000001, 0, Register::Ecx, 16 }, // FMA4
};
constexpr FeatureBit avx512_features[] = {
    { 7, 0, Register::Ebx, 16 }, // AVX512F: enumerates the group.
    { 7, 0, Register::Ebx, 17 }, // AVX512DQ
    { 7, 0, Register::Ebx, 21 }, // AVX512IFMA
    { 7, 0, Register::Ebx, 26 }, // AVX512PF
    { 7, 0, Register::Ebx, 27 }, // AVX512ER
    { 7, 0, Register::Ebx, 28 }, // AVX512CD
    { 7, 0, Register::Ebx, 30 }, // AVX512BW
    { 7, 0, Register::Ebx, 31 }, // AVX512VL
    { 7, 0, Register::Ecx, 1 },  // AVX512VBMI
    { 7, 0, Register::Ecx, 6 },  // AVX512VBMI2
    { 7, 0, Register::Ecx, 11 }, // AVX512VNNI
    { 7, 0, Register::Ecx, 12 }, // AVX512BITALG
    { 7, 0, Register::Ecx, 14 }, // AVX512VPOPCNTDQ
    { 7, 0, Register::Edx, 2 },  // AVX512_4VNNIW
    { 7, 0, Register::Edx, 3 },  // AVX512_4FMAPS
    { 7, 0, Register::Edx, 8 },  // AVX512_VP2INTERSECT
    { 7, 0, Register::Edx, 23 }, // AVX512_FP16
    { 7, 1, Register::Eax, 5 },  // AVX512_BF16
};
constexpr FeatureBit mpx_features[] = { { 7, 0, Register::Ebx, 14 } };
constexpr FeatureBit pku_features[] = {
    { 7, 0, Register::Ecx, 3 }, // PKU: enumerates the group.
    { 7, 0, Register::Ecx, 4 }, // OSPKE
};
constexpr FeatureBit amx_features[] = {
    { 7, 0, Register::Edx, 24 }, // AMX-TILE: enumerates the group.
    { 7, 0, Register::Edx, 22 }, // AMX-BF16
    { 7, 0, Register::Edx, 25 }, // AMX-INT8
    { 7, 1, Register::Eax, 21 }, // AMX-FP16
};

constexpr uint64_t component_bit(XsaveComponent component)
{
    return 1ull << static_cast<uint32_t>(component);
}

constexpr uint64_t legacy_components = component_bit(XsaveComponent::X87) | component_bit(XsaveComponent::Sse);

// The user components that go together: one feature flag enumerates them,
// and the other flags name instructions that need them.
struct ComponentGroup {
    char const* name;
    uint64_t components;
    uint64_t needs_components; // Another group's state these instructions also use.
    std::span<FeatureBit const> features;
};

constexpr ComponentGroup component_groups[] = {
    { "AVX", component_bit(XsaveComponent::Ymm), 0, avx_features },
    { "AVX-512", component_bit(XsaveComponent::Opmask) | component_bit(XsaveComponent::ZmmHi256) | component_bit(XsaveComponent::Hi16Zmm),
        component_bit(XsaveComponent::Ymm), avx512_features },
    { "MPX", component_bit(XsaveComponent::BndRegs) | component_bit(XsaveComponent::BndCsr), 0, mpx_features },
    { "PKU", component_bit(XsaveComponent::Pkru), 0, pku_features },
    { "AMX", component_bit(XsaveComponent::TileConfig) | component_bit(XsaveComponent::TileData), 0, amx_features },
};

// The sizes Linux compares with its own structures (0: the size varies).
uint32_t architectural_size(uint32_t component)
{
    switch (static_cast<XsaveComponent>(component)) {
    case XsaveComponent::Ymm:
        return 256;
    case XsaveComponent::BndRegs:
    case XsaveComponent::BndCsr:
    case XsaveComponent::Opmask:
    case XsaveComponent::TileConfig:
        return 64;
    case XsaveComponent::ZmmHi256:
        return 512;
    case XsaveComponent::Hi16Zmm:
        return 1024;
    case XsaveComponent::Pkru:
        return 8;
    default:
        return 0;
    }
}

kvm_cpuid_entry2* find_entry(kvm::CpuidList& cpuid, uint32_t function, uint32_t index)
{
    for (auto& entry : cpuid.entries()) {
        if (entry.function == function && entry.index == index)
            return &entry;
    }
    return nullptr;
}

uint32_t& register_of(kvm_cpuid_entry2& entry, Register reg)
{
    switch (reg) {
    case Register::Eax:
        return entry.eax;
    case Register::Ebx:
        return entry.ebx;
    case Register::Ecx:
        return entry.ecx;
    case Register::Edx:
        break;
    }
    return entry.edx;
}

bool has_feature(kvm::CpuidList& cpuid, FeatureBit feature)
{
    auto* entry = find_entry(cpuid, feature.function, feature.index);
    return entry && (register_of(*entry, feature.reg) & (1u << feature.bit));
}

void clear_features(kvm::CpuidList& cpuid, std::span<FeatureBit const> features)
{
    for (auto feature : features) {
        if (auto* entry = find_entry(cpuid, feature.function, feature.index))
            register_of(*entry, feature.reg) &= ~(1u << feature.bit);
    }
}

// Keeps the entries `keep` accepts, in their order.
template<typename Predicate>
void filter_entries(kvm::CpuidList& cpuid, Predicate keep)
{
    auto entries = cpuid.entries();
    auto const end = std::stable_partition(entries.begin(), entries.end(), keep);
    cpuid.set_count(static_cast<size_t>(end - entries.begin()));
}

// The tile data component holds the largest palette's tiles (leaf 0x1d);
// Linux checks that product against the component's size.
std::string check_tile_palettes(kvm::CpuidList& cpuid, uint32_t tile_data_size)
{
    auto* palettes = find_entry(cpuid, tile_leaf, 0);
    if (!palettes)
        return "no tile palette leaf (0x1d)";
    uint32_t max_tiles = 0;
    for (uint32_t palette = 1; palette <= palettes->eax; ++palette) {
        auto* entry = find_entry(cpuid, tile_leaf, palette);
        if (!entry || (entry->eax >> 16) != tile_bytes)
            return fmt::format("palette {} does not have {}-byte tiles", palette, tile_bytes);
        max_tiles = std::max(max_tiles, entry->ebx >> 16);
    }
    if (max_tiles * tile_bytes != tile_data_size)
        return fmt::format("tile data is {} bytes, not {} tiles of {} bytes", tile_data_size, max_tiles, tile_bytes);
    return {};
}

// Why the subleaves of `components` cannot be shown as they are; empty when they can.
std::string check_components(kvm::CpuidList& cpuid, uint64_t components)
{
    for (uint32_t component = 0; component < 64; ++component) {
        if (!(components & (1ull << component)))
            continue;
        auto* entry = find_entry(cpuid, xsave_leaf, component);
        if (!entry || entry->eax == 0)
            return fmt::format("component {} has no size in leaf 0xd", component);
        uint32_t const expected = architectural_size(component);
        if (expected != 0 && entry->eax != expected)
            return fmt::format("component {} is {} bytes, not {}", component, entry->eax, expected);
        if (entry->ecx & component_supervisor_bit)
            return fmt::format("component {} is marked as a supervisor component", component);
        if (component == static_cast<uint32_t>(XsaveComponent::TileData)) {
            if (auto problem = check_tile_palettes(cpuid, entry->eax); !problem.empty())
                return problem;
        }
    }
    return {};
}

}

XsaveReport make_xsave_consistent(kvm::CpuidList& cpuid)
{
    XsaveReport report;
    auto hide_xsave = [&](std::string const& reason) {
        clear_features(cpuid, std::array { xsave_feature, osxsave_feature });
        for (auto const& group : component_groups)
            clear_features(cpuid, group.features);
        filter_entries(cpuid, [](kvm_cpuid_entry2 const& entry) { return entry.function != xsave_leaf; });
        report.notes.push_back("XSAVE hidden: " + reason);
        return report;
    };

    if (!has_feature(cpuid, xsave_feature))
        return hide_xsave("leaf 1 does not enumerate it");
    auto* main_leaf = find_entry(cpuid, xsave_leaf, 0);
    if (!main_leaf)
        return hide_xsave("there is no leaf 0xd");
    uint64_t const advertised = main_leaf->eax | (static_cast<uint64_t>(main_leaf->edx) << 32);
    if ((advertised & legacy_components) != legacy_components)
        return hide_xsave(fmt::format("leaf 0xd lists components {:#x}, without x87 and SSE", advertised));

    uint64_t xcr0 = legacy_components;
    uint64_t known = legacy_components;
    for (auto const& group : component_groups) {
        known |= group.components;
        bool const enumerated = has_feature(cpuid, group.features.front());
        if (!enumerated) {
            // The usual case on a host whose KVM lists state that the guest
            // cannot use: the state goes, the (clear) flags stay as they are.
            if (advertised & group.components)
                report.notes.push_back(fmt::format("components {:#x} removed from leaf 0xd: {} is not exposed", advertised & group.components, group.name));
            continue;
        }
        std::string problem;
        if ((advertised & group.components) != group.components)
            problem = fmt::format("leaf 0xd lacks components {:#x}", group.components & ~advertised);
        else if ((xcr0 & group.needs_components) != group.needs_components)
            problem = "the state it builds on was removed";
        else
            problem = check_components(cpuid, group.components);
        if (problem.empty()) {
            xcr0 |= group.components;
            continue;
        }
        clear_features(cpuid, group.features);
        report.notes.push_back(fmt::format("{} hidden: {}", group.name, problem));
    }
    if (uint64_t const unknown = advertised & ~known)
        report.notes.push_back(fmt::format("components {:#x} removed from leaf 0xd: vmm knows no feature that uses them", unknown));

    // The standard (non-compacted) format puts each component at its own
    // offset; Linux sizes the area by the highest one, so they must ascend.
    uint32_t max_size = xsave_legacy_and_header_size;
    for (uint32_t component = 2; component < 64; ++component) {
        if (!(xcr0 & (1ull << component)))
            continue;
        auto const* entry = find_entry(cpuid, xsave_leaf, component);
        if (entry->ebx < max_size)
            return hide_xsave(fmt::format("component {} at offset {} overlaps the state before it (which ends at {})", component, entry->ebx, max_size));
        max_size = entry->ebx + entry->eax;
    }

    // Supervisor components exist only with XSAVES, each with a subleaf
    // that says it is one.
    auto* compacted_leaf = find_entry(cpuid, xsave_leaf, 1);
    uint64_t xss = 0;
    if (compacted_leaf) {
        uint64_t const advertised_xss = compacted_leaf->ecx | (static_cast<uint64_t>(compacted_leaf->edx) << 32);
        for (uint32_t component = 0; component < 64; ++component) {
            if (!(advertised_xss & (1ull << component)))
                continue;
            auto const* entry = find_entry(cpuid, xsave_leaf, component);
            if ((compacted_leaf->eax & xsaves_bit) && component >= 2 && entry && entry->eax != 0 && (entry->ecx & component_supervisor_bit))
                xss |= 1ull << component;
            else
                report.notes.push_back(fmt::format("supervisor component {} removed from leaf 0xd: no XSAVES or no subleaf for it", component));
        }
        // The sizes are those of the state enabled at reset (XCR0 = x87,
        // IA32_XSS = 0); KVM recomputes them when the guest enables more.
        compacted_leaf->ebx = (compacted_leaf->eax & (xsavec_bit | xsaves_bit)) ? xsave_legacy_and_header_size : 0;
        compacted_leaf->ecx = static_cast<uint32_t>(xss);
        compacted_leaf->edx = static_cast<uint32_t>(xss >> 32);
    }
    main_leaf->eax = static_cast<uint32_t>(xcr0);
    main_leaf->edx = static_cast<uint32_t>(xcr0 >> 32);
    main_leaf->ebx = xsave_legacy_and_header_size;
    main_leaf->ecx = max_size;

    uint64_t const exposed = xcr0 | xss;
    filter_entries(cpuid, [exposed](kvm_cpuid_entry2 const& entry) {
        return entry.function != xsave_leaf || entry.index < 2 || (entry.index < 64 && (exposed & (1ull << entry.index)));
    });
    report.xsave_exposed = true;
    report.xcr0 = xcr0;
    report.xss = xss;
    report.max_size = max_size;
    return report;
}

}
