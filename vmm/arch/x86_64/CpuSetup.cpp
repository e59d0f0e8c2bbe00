#include "vmm/arch/x86_64/CpuSetup.h"

#include "vmm/arch/x86_64/Cpuid.h"

#include "common/Error.h"

#include <bit>
#include <cerrno>
#include <fmt/format.h>
#include <sys/ioctl.h>
#include <cstring>
#include <spdlog/spdlog.h>

namespace vmm::x86_64 {

namespace {

constexpr uint32_t cpuid_hypervisor_bit = 1u << 31; // Leaf 1, ECX.
constexpr uint32_t cpuid_htt_bit = 1u << 28;        // Leaf 1, EDX.
constexpr uint32_t topology_level_smt = 1;
constexpr uint32_t topology_level_core = 2;

constexpr uint32_t msr_ia32_tsc = 0x10;
constexpr uint32_t msr_ia32_sysenter_cs = 0x174;
constexpr uint32_t msr_ia32_sysenter_esp = 0x175;
constexpr uint32_t msr_ia32_sysenter_eip = 0x176;
constexpr uint32_t msr_ia32_misc_enable = 0x1a0;
constexpr uint64_t misc_enable_fast_string = 1;
constexpr uint32_t msr_mtrr_def_type = 0x2ff;
constexpr uint64_t mtrr_enable = 1u << 11;
constexpr uint64_t mtrr_type_write_back = 6;
constexpr uint32_t msr_star = 0xc0000081;
constexpr uint32_t msr_lstar = 0xc0000082;
constexpr uint32_t msr_cstar = 0xc0000083;
constexpr uint32_t msr_syscall_mask = 0xc0000084;
constexpr uint32_t msr_kernel_gs_base = 0xc0000102;

constexpr size_t apic_lvt_lint0 = 0x350;
constexpr size_t apic_lvt_lint1 = 0x360;
constexpr uint32_t apic_mode_nmi = 0x4;
constexpr uint32_t apic_mode_extint = 0x7;

// Leaf 0xD's EBX is the XSAVE area for the current XCR0, which KVM keeps up
// to date when it sees the guest's XSETBV. Some hosts let XSETBV through
// without an exit (KVM nested under QEMU's emulator), so the guest would read
// the size for the reset XCR0 (x87) after enabling AVX, and Linux then turns
// XSAVE off after dumping the leaf. Starting with XCR0 at the components
// that are exposed, as firmware leaves it, makes EBX right from the start;
// it takes effect only once the guest sets CR4.OSXSAVE, and INIT keeps it.
void start_with_xcr0(kvm::Vcpu& vcpu, uint64_t xcr0)
{
    kvm_xcrs xcrs {};
    xcrs.nr_xcrs = 1;
    xcrs.xcrs[0].xcr = 0;
    xcrs.xcrs[0].value = xcr0;
    if (::ioctl(vcpu.fd(), KVM_SET_XCRS, &xcrs) == 0)
        return;
    // A KVM without XCR support (KVM_CAP_XCRS) keeps the reset value.
    if (errno != EINVAL && errno != ENOTTY)
        throw_system_error("KVM_SET_XCRS", fmt::format("vCPU {}", vcpu.index()));
    if (vcpu.index() == 0)
        spdlog::debug("cpuid: KVM_SET_XCRS: {}; the guest starts with XCR0 = x87", std::strerror(errno));
}

uint32_t set_delivery_mode(uint32_t lvt, uint32_t mode)
{
    return (lvt & ~0x700u) | (mode << 8);
}

}

kvm::CpuidList cpuid_for_vcpu(kvm::CpuidList const& supported, uint32_t index, uint32_t count)
{
    kvm::CpuidList cpuid(supported.capacity());
    size_t used = 0;
    // Bits needed to number `count` cores in an x2APIC id.
    uint32_t const core_bits = count > 1 ? std::bit_width(count - 1) : 0;
    for (auto entry : supported.entries()) {
        switch (entry.function) {
        case 0x1:
            entry.ebx = (entry.ebx & 0x0000ffffu) | (count << 16) | (index << 24);
            entry.ecx |= cpuid_hypervisor_bit;
            if (count > 1)
                entry.edx |= cpuid_htt_bit;
            break;
        case 0x4: {
            // Deterministic cache parameters: cores per package in EAX[31:26];
            // the last-level cache (level 3) is shared by all of them.
            uint32_t const cache_level = (entry.eax >> 5) & 0x7;
            uint32_t const sharing = cache_level >= 3 ? count - 1 : 0;
            entry.eax = (entry.eax & 0x3fffu) | (sharing << 14) | ((count - 1) << 26);
            break;
        }
        case 0xb:
        case 0x1f:
            // Extended topology: level 0 is SMT (one thread per core), level 1 the cores.
            if (entry.index == 0) {
                entry.eax = 0;
                entry.ebx = 1;
                entry.ecx = (topology_level_smt << 8) | entry.index;
            } else if (entry.index == 1) {
                entry.eax = core_bits;
                entry.ebx = count;
                entry.ecx = (topology_level_core << 8) | entry.index;
            } else {
                entry.eax = 0;
                entry.ebx = 0;
                entry.ecx = entry.index;
            }
            entry.edx = index;
            break;
        case 0x80000008:
            entry.ecx = (entry.ecx & ~0xf0ffu) | (count - 1) | (core_bits << 12);
            break;
        default:
            break;
        }
        cpuid.get()->entries[used++] = entry;
    }
    cpuid.set_count(used);
    return cpuid;
}

std::vector<kvm_msr_entry> boot_msrs()
{
    auto entry = [](uint32_t index, uint64_t value) {
        kvm_msr_entry msr {};
        msr.index = index;
        msr.data = value;
        return msr;
    };
    return {
        entry(msr_ia32_sysenter_cs, 0),
        entry(msr_ia32_sysenter_esp, 0),
        entry(msr_ia32_sysenter_eip, 0),
        entry(msr_star, 0),
        entry(msr_cstar, 0),
        entry(msr_kernel_gs_base, 0),
        entry(msr_syscall_mask, 0),
        entry(msr_lstar, 0),
        entry(msr_ia32_tsc, 0),
        entry(msr_ia32_misc_enable, misc_enable_fast_string),
        entry(msr_mtrr_def_type, mtrr_enable | mtrr_type_write_back),
    };
}

void configure_vcpu(kvm::Vcpu& vcpu, kvm::CpuidList const& supported, uint32_t count)
{
    auto cpuid = cpuid_for_vcpu(supported, vcpu.index(), count);
    // KVM lists what it can virtualize, not a CPU a guest can trust as it
    // is: its XSAVE leaf may describe state whose features are hidden.
    auto const xsave = make_xsave_consistent(cpuid);
    if (vcpu.index() == 0) {
        for (auto const& note : xsave.notes)
            spdlog::debug("cpuid: {}", note);
        if (xsave.xsave_exposed)
            spdlog::debug("cpuid: XSAVE with XCR0 components {:#x}, IA32_XSS components {:#x}, {} bytes at most", xsave.xcr0, xsave.xss, xsave.max_size);
    }
    vcpu.set_cpuid(cpuid);
    if (xsave.xsave_exposed)
        start_with_xcr0(vcpu, xsave.xcr0);
    auto const msrs = boot_msrs();
    vcpu.set_msrs(msrs);

    auto lapic = vcpu.get_lapic();
    auto update_lvt = [&](size_t offset, uint32_t mode) {
        uint32_t value = 0;
        std::memcpy(&value, lapic.regs + offset, sizeof(value));
        value = set_delivery_mode(value, mode);
        std::memcpy(lapic.regs + offset, &value, sizeof(value));
    };
    update_lvt(apic_lvt_lint0, apic_mode_extint);
    update_lvt(apic_lvt_lint1, apic_mode_nmi);
    vcpu.set_lapic(lapic);
}

}
