#pragma once

#include "vmm/devices/Bus.h"
#include "vmm/devices/RateLimitedLog.h"
#include "vmm/kvm/KvmAbi.h"
#include "vmm/machine/KernelCmdline.h"
#include "vmm/machine/PvmInstructions.h"
#include "vmm/machine/StopReason.h"

#include <cstdint>
#include <functional>
#include <string>
#include <variant>

namespace vmm {

// What a vCPU thread does after one exit. The exit dispatch decides; the
// machine carries it out (Machine::run_vcpu), so that the dispatch can be
// tested with made-up exits and no KVM.
namespace exit_action {

// Enter the guest again (a device may have stopped the machine meanwhile).
struct Resume { };

// Stop the machine, and with it this vCPU.
struct Stop {
    StopReason reason;
    int exit_status;
    std::string message;
};

// Do what the CPU would have done for an instruction KVM could not emulate,
// then resume (PvmInstructions.h).
struct CompleteInstruction {
    InstructionCompletion completion;
};

}

using ExitAction = std::variant<exit_action::Resume, exit_action::Stop, exit_action::CompleteInstruction>;

// What the dispatch needs besides the exit itself. One per vCPU thread.
struct ExitContext {
    uint32_t vcpu_index { 0 };
    HostKind host_kind { HostKind::HardwareVirtualization };
    Bus const& io_bus;
    Bus const& mmio_bus;
    RateLimitedLog& guest_log;
    // The guest's RIP, read only for the rare exits that name it (on a real
    // vCPU it costs a KVM_GET_REGS).
    std::function<uint64_t()> read_rip;
};

// Handles the exit described by `run` (the vCPU's kvm_run page): PIO and MMIO
// accesses go to the buses, with the data of an IN or MMIO read left in
// `run`; the other exits become an action.
ExitAction handle_exit(kvm_run& run, ExitContext const& context);

}
