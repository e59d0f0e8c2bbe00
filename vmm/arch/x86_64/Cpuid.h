#pragma once

#include "vmm/kvm/Kvm.h"

#include <cstdint>
#include <string>
#include <vector>

namespace vmm::x86_64 {

// XSAVE state components (bit numbers in XCR0 and IA32_XSS).
enum class XsaveComponent : uint32_t {
    X87 = 0,
    Sse = 1,
    Ymm = 2,
    BndRegs = 3,
    BndCsr = 4,
    Opmask = 5,
    ZmmHi256 = 6,
    Hi16Zmm = 7,
    Pkru = 9,
    TileConfig = 17,
    TileData = 18,
};

// The legacy region (x87 and SSE, 512 bytes) and the XSAVE header (64 bytes)
// come before every extended component.
constexpr uint32_t xsave_legacy_and_header_size = 576;

// What make_xsave_consistent() left the guest, and why it removed the rest.
struct XsaveReport {
    bool xsave_exposed { false };
    uint64_t xcr0 { 0 }; // The user components the guest may enable in XCR0.
    uint64_t xss { 0 };  // The supervisor components it may enable in IA32_XSS.
    uint32_t max_size { 0 };
    std::vector<std::string> notes;
};

// Makes the XSAVE leaf (0xD) agree with the features the rest of `cpuid`
// exposes, as a Linux guest cross-checks them at boot (arch/x86/kernel/fpu/
// xstate.c dumps the leaves and loses seconds of boot when they disagree):
// components whose feature is hidden are removed from subleaves 0 and 1 and
// their own subleaves; a component whose size is not the architectural one,
// or whose area overlaps another, is removed with the features that need it;
// subleaf 0's ECX (the largest area) and the sizes in EBX are computed for
// what remains (KVM updates EBX when the guest changes XCR0 or IA32_XSS).
// Without a usable subleaf 0 XSAVE is hidden, with every feature that needs it.
XsaveReport make_xsave_consistent(kvm::CpuidList& cpuid);

}
