#pragma once

#include "common/FileDescriptor.h"

namespace vmm::virtio {

// How a transport interrupts the guest. In a VM it is an eventfd that KVM
// turns into an interrupt (irqfd); tests count the calls instead.
class InterruptLine {
public:
    virtual ~InterruptLine() = default;
    // Called from the I/O thread (used buffers) or a vCPU thread (errors).
    virtual void trigger() = 0;
};

// An eventfd for KVM_IRQFD: every write pulses the guest's interrupt line.
class EventFdInterrupt final : public InterruptLine {
public:
    EventFdInterrupt();
    int fd() const { return m_event.get(); }
    void trigger() override;

private:
    FileDescriptor m_event;
};

}
