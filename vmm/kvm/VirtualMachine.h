#pragma once

#include "common/FileDescriptor.h"
#include "vmm/kvm/Kvm.h"

#include <cstdint>

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
    // Creates the in-kernel PIC, IOAPIC and LAPICs, and the PIT; sets the TSS and
    // identity-map addresses (from arch/x86_64/Layout.h) that Intel hosts need.
    void create_irqchip_and_pit();

    // Drives an interrupt line (IOAPIC pin / PIC line) to `level`.
    void set_irq_line(uint32_t irq, bool level);
    // The guest gets interrupt `gsi` whenever `event_fd` is written.
    void register_irqfd(int event_fd, uint32_t gsi);
    // Guest writes of `length` bytes at `address` signal `event_fd` instead of exiting to the VMM.
    void register_ioeventfd(int event_fd, uint64_t address, uint32_t length, IoEventSpace space);

private:
    explicit VirtualMachine(FileDescriptor fd)
        : m_fd(std::move(fd))
    {
    }
    FileDescriptor m_fd;
};

}
