#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace vmm {

// What the CPU would have done for an instruction that KVM's emulator could
// not run: move RIP past it, then deliver an exception it raises as a trap.
struct InstructionCompletion {
    uint8_t length { 0 };
    std::optional<uint8_t> exception_vector;
};

// On a PVM host KVM's instruction emulator runs all guest kernel code, but it
// cannot run every instruction. For the few that Linux needs, vmm does what
// the CPU would have done: `instruction` holds the bytes KVM reported at RIP.
// Returns nothing for an instruction vmm cannot complete either.
std::optional<InstructionCompletion> complete_unemulated_instruction(std::span<uint8_t const> instruction);

}
