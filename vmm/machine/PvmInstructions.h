#pragma once

#include "kvm/Vcpu.h"

#include <cstdint>
#include <span>

namespace vmm {

// On a PVM host KVM's instruction emulator runs all guest kernel code, but it
// cannot run every instruction. For the few that Linux needs, vmm does what
// the CPU would have done: `instruction` holds the bytes KVM reported at
// `regs.rip`. Returns false for an instruction vmm cannot complete either.
bool complete_unemulated_instruction(kvm::Vcpu& vcpu, kvm_regs const& regs, std::span<uint8_t const> instruction);

}
