#pragma once

#include "vmm/kvm/Kvm.h"
#include "vmm/kvm/Vcpu.h"

#include <cstdint>
#include <vector>

namespace vmm::x86_64 {

// KVM's supported CPUID, adjusted for vCPU `index` of `count`: its APIC id
// (leaves 0x1, 0xb, 0x1f), the package topology (one core per vCPU, leaves
// 0x4 and 0x80000008) and the hypervisor bit.
kvm::CpuidList cpuid_for_vcpu(kvm::CpuidList const& supported, uint32_t index, uint32_t count);

// The MSR values every vCPU starts with (after Firecracker's boot MSRs):
// SYSENTER/SYSCALL MSRs cleared, fast strings on, write-back MTRR default.
std::vector<kvm_msr_entry> boot_msrs();

// CPUID, MSRs and LAPIC (LINT0 as ExtINT, LINT1 as NMI) for any vCPU.
void configure_vcpu(kvm::Vcpu& vcpu, kvm::CpuidList const& supported, uint32_t count);

}
