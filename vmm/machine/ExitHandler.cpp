#include "vmm/machine/ExitHandler.h"

#include <algorithm>
#include <fmt/format.h>

namespace vmm {

namespace {

std::string hex_bytes(std::span<uint8_t const> bytes)
{
    std::string text;
    for (auto byte : bytes)
        text += fmt::format("{}{:02x}", text.empty() ? "" : " ", byte);
    return text;
}

exit_action::Stop failure(std::string message)
{
    return { StopReason::Failure, 1, std::move(message) };
}

ExitAction handle_io(kvm_run& run, ExitContext const& context)
{
    // `count` accesses of `size` bytes each, for rep ins/outs; the data sits
    // in the kvm_run page at data_offset, which KVM keeps in bounds.
    auto* data = reinterpret_cast<uint8_t*>(&run) + run.io.data_offset;
    for (uint32_t index = 0; index < run.io.count; ++index) {
        std::span<uint8_t> access(data + index * run.io.size, run.io.size);
        bool const handled = run.io.direction == KVM_EXIT_IO_OUT ? context.io_bus.write(run.io.port, access) : context.io_bus.read(run.io.port, access);
        if (!handled)
            context.guest_log.debug("vCPU {}: unclaimed port {:#x}", context.vcpu_index, run.io.port);
    }
    return exit_action::Resume {};
}

ExitAction handle_mmio(kvm_run& run, ExitContext const& context)
{
    std::span<uint8_t> access(run.mmio.data, std::min<uint32_t>(run.mmio.len, sizeof(run.mmio.data)));
    bool const handled = run.mmio.is_write ? context.mmio_bus.write(run.mmio.phys_addr, access) : context.mmio_bus.read(run.mmio.phys_addr, access);
    if (!handled)
        context.guest_log.debug("vCPU {}: unclaimed MMIO {:#x}", context.vcpu_index, run.mmio.phys_addr);
    return exit_action::Resume {};
}

ExitAction handle_internal_error(kvm_run const& run, ExitContext const& context)
{
    auto const& failure_info = run.emulation_failure;
    bool const emulation = failure_info.suberror == KVM_INTERNAL_ERROR_EMULATION;
    std::span<uint8_t const> instruction;
    if (emulation && failure_info.ndata >= 2 && (failure_info.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES))
        instruction = { failure_info.insn_bytes, std::min<size_t>(failure_info.insn_size, sizeof(failure_info.insn_bytes)) };
    if (context.host_kind == HostKind::Pvm) {
        if (auto completion = complete_unemulated_instruction(instruction))
            return exit_action::CompleteInstruction { *completion };
    }
    auto const rip = context.read_rip();
    std::string message;
    if (emulation)
        message = fmt::format("vCPU {}: KVM cannot emulate the instruction at RIP {:#x} (bytes: {})", context.vcpu_index, rip,
            instruction.empty() ? "unknown" : hex_bytes(instruction));
    else
        message = fmt::format("vCPU {}: KVM internal error, suberror {} at RIP {:#x}", context.vcpu_index, run.internal.suberror, rip);
    if (context.host_kind == HostKind::Pvm)
        message += " [PVM host: guest code at CPL0 is emulated]";
    return failure(std::move(message));
}

}

ExitAction handle_exit(kvm_run& run, ExitContext const& context)
{
    switch (run.exit_reason) {
    case KVM_EXIT_IO:
        return handle_io(run, context);
    case KVM_EXIT_MMIO:
        return handle_mmio(run, context);
    case KVM_EXIT_SHUTDOWN:
        return exit_action::Stop { StopReason::TripleFault, 1, {} };
    case KVM_EXIT_SYSTEM_EVENT:
        return exit_action::Stop { StopReason::GuestReset, 0, {} };
    case KVM_EXIT_INTERNAL_ERROR:
        return handle_internal_error(run, context);
    case KVM_EXIT_FAIL_ENTRY:
        return failure(fmt::format("vCPU {}: KVM could not enter the guest (hardware reason {:#x})", context.vcpu_index,
            run.fail_entry.hardware_entry_failure_reason));
    case KVM_EXIT_INTR:
    case KVM_EXIT_IRQ_WINDOW_OPEN:
        return exit_action::Resume {};
    case KVM_EXIT_HLT:
        return failure(fmt::format("vCPU {}: halted with interrupts that can never arrive", context.vcpu_index));
    default:
        return failure(fmt::format("vCPU {}: unexpected KVM exit reason {}", context.vcpu_index, run.exit_reason));
    }
}

}
