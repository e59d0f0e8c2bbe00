#include "vmm/arch/aarch64/Registers.h"

#include <cstddef>

namespace vmm::aarch64 {

namespace {

// The id of a core register: its offset in struct kvm_regs, in 32-bit words.
constexpr uint64_t core_register(size_t offset)
{
    return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset / sizeof(uint32_t));
}

constexpr uint64_t register_pc = core_register(offsetof(kvm_regs, regs.pc));
constexpr uint64_t register_pstate = core_register(offsetof(kvm_regs, regs.pstate));
constexpr uint64_t register_x(size_t number)
{
    return core_register(offsetof(kvm_regs, regs.regs) + number * sizeof(uint64_t));
}
constexpr uint64_t register_mpidr = ARM64_SYS_REG(3, 0, 0, 0, 5); // MPIDR_EL1

// EL1 with its own stack pointer, debug, SError, IRQ and FIQ masked.
constexpr uint64_t boot_pstate = PSR_MODE_EL1h | PSR_D_BIT | PSR_A_BIT | PSR_I_BIT | PSR_F_BIT;
// Aff3 (bits 32-39) and Aff2..Aff0 (bits 0-23).
constexpr uint64_t mpidr_affinity_mask = 0xff00ffffffull;

}

void initialize_vcpu(kvm::VirtualMachine const& vm, kvm::Vcpu& vcpu)
{
    auto init = vm.preferred_target();
    init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
    if (vcpu.index() > 0)
        init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
    vcpu.init(init);
}

void set_boot_registers(kvm::Vcpu& vcpu, uint64_t entry, uint64_t device_tree_address)
{
    vcpu.set_one_register(register_pstate, boot_pstate);
    vcpu.set_one_register(register_x(0), device_tree_address);
    for (size_t number = 1; number <= 3; ++number)
        vcpu.set_one_register(register_x(number), 0);
    vcpu.set_one_register(register_pc, entry);
}

uint64_t vcpu_affinity(kvm::Vcpu const& vcpu)
{
    return vcpu.get_one_register(register_mpidr) & mpidr_affinity_mask;
}

uint64_t program_counter(kvm::Vcpu const& vcpu)
{
    return vcpu.get_one_register(register_pc);
}

}
