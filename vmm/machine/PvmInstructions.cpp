#include "machine/PvmInstructions.h"

namespace vmm {

namespace {

constexpr uint8_t opcode_int3 = 0xcc;
constexpr uint8_t opcode_fwait = 0x9b;
constexpr uint8_t breakpoint_vector = 3;

}

bool complete_unemulated_instruction(kvm::Vcpu& vcpu, kvm_regs const& regs, std::span<uint8_t const> instruction)
{
    if (instruction.empty())
        return false;
    auto next = regs;
    switch (instruction[0]) {
    case opcode_int3: {
        // Linux's int3 self-test and text patching: deliver the #BP it raises,
        // a trap whose saved RIP follows the one-byte instruction.
        next.rip += 1;
        vcpu.set_registers(next);
        auto events = vcpu.get_events();
        events.exception.injected = 1;
        events.exception.nr = breakpoint_vector;
        events.exception.has_error_code = 0;
        vcpu.set_events(events);
        return true;
    }
    case opcode_fwait:
        // fpu__drop at every process exit: fwait only raises pending unmasked
        // x87 exceptions, which Linux ignores there, so step over it.
        next.rip += 1;
        vcpu.set_registers(next);
        return true;
    default:
        return false;
    }
}

}
