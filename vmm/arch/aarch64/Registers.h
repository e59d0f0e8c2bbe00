#pragma once

// The aarch64 vCPU through KVM_ARM_VCPU_INIT and KVM_{GET,SET}_ONE_REG.

#include "vmm/kvm/Vcpu.h"
#include "vmm/kvm/VirtualMachine.h"

#include <cstdint>

namespace vmm::aarch64 {

// KVM_ARM_VCPU_INIT with the host's preferred CPU model and PSCI 0.2; every
// vCPU but the first starts powered off (KVM_ARM_VCPU_POWER_OFF), for the
// guest to start with PSCI CPU_ON.
void initialize_vcpu(kvm::VirtualMachine const& vm, kvm::Vcpu& vcpu);

// The entry state of the boot protocol (Documentation/arm64/booting.rst):
// PC at the kernel, x0 the device tree's address, x1-x3 zero, EL1h with
// D, A, I and F masked.
void set_boot_registers(kvm::Vcpu& vcpu, uint64_t entry, uint64_t device_tree_address);

// MPIDR_EL1's affinity fields (Aff3..Aff0), as a device tree's cpu node names the vCPU.
uint64_t vcpu_affinity(kvm::Vcpu const& vcpu);

uint64_t program_counter(kvm::Vcpu const& vcpu);

}
