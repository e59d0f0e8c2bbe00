#pragma once

#include "common/FileDescriptor.h"
#include "vmm/kvm/Kvm.h"

#include <cstdint>
#include <optional>

namespace vmm::kvm {

enum class IoEventSpace {
    Pio,
    Mmio,
};

// A KVM virtual machine file descriptor: memory slots, the in-kernel
// irqchip and PIT, interrupt lines, irqfds and ioeventfds.
class VirtualMachine {
public:
    static VirtualMachine create(Kvm const& kvm);

    int fd() const { return m_fd.get(); }

    void set_user_memory_region(uint32_t slot, uint64_t guest_address, uint64_t size, void* host_address);
#if defined(__x86_64__)
    // Creates the in-kernel PIC, IOAPIC and LAPICs, and the PIT; sets the TSS and
    // identity-map addresses (arch/x86_64/Layout.h) that Intel hosts need.
    void create_x86_irqchip_and_pit(uint64_t tss_address, uint64_t identity_map_address);
#endif
#if defined(__aarch64__)
    // KVM_ARM_PREFERRED_TARGET: the CPU model KVM emulates best on this host.
    kvm_vcpu_init preferred_target() const;
#endif
    // Creates an in-kernel device (KVM_CREATE_DEVICE), such as the arm64 GIC.
    FileDescriptor create_device(uint32_t type, char const* name);

    // Drives an interrupt line to `level`: an IOAPIC pin on x86_64, an SPI
    // (GIC INTID - 32) on aarch64.
    void set_irq_line(uint32_t irq, bool level);
    // The guest gets interrupt `gsi` (as for set_irq_line) whenever `event_fd` is written.
    void register_irqfd(int event_fd, uint32_t gsi);
    // Guest writes of `length` bytes at `address` (of the value `datamatch`
    // only, when given) signal `event_fd` instead of exiting to the VMM.
    void register_ioeventfd(int event_fd, uint64_t address, uint32_t length, IoEventSpace space, std::optional<uint64_t> datamatch = std::nullopt);

private:
    explicit VirtualMachine(FileDescriptor fd)
        : m_fd(std::move(fd))
    {
    }
    FileDescriptor m_fd;
};

}
