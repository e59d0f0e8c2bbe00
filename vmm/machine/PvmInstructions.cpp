#include "vmm/machine/PvmInstructions.h"

namespace vmm {

namespace {

constexpr uint8_t opcode_int3 = 0xcc;
constexpr uint8_t opcode_fwait = 0x9b;
constexpr uint8_t breakpoint_vector = 3;

}

std::optional<InstructionCompletion> complete_unemulated_instruction(std::span<uint8_t const> instruction)
{
    if (instruction.empty())
        return std::nullopt;
    switch (instruction[0]) {
    case opcode_int3:
        // Linux's int3 self-test and text patching: deliver the #BP it raises,
        // a trap whose saved RIP follows the one-byte instruction.
        return InstructionCompletion { .length = 1, .exception_vector = breakpoint_vector };
    case opcode_fwait:
        // fpu__drop at every process exit: fwait only raises pending unmasked
        // x87 exceptions, which Linux ignores there, so step over it.
        return InstructionCompletion { .length = 1, .exception_vector = std::nullopt };
    default:
        return std::nullopt;
    }
}

}
