#pragma once

#include "common/FileDescriptor.h"

#include <functional>
#include <mutex>

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
// What vhost needs (the kernel's worker writes it); vmm's own threads raise
// their interrupts with a LinePulseInterrupt on x86_64 (see there).
class EventFdInterrupt final : public InterruptLine {
public:
    EventFdInterrupt();
    int fd() const { return m_event.get(); }
    void trigger() override;

private:
    FileDescriptor m_event;
};

// Pulses the line from the thread that raises the interrupt: `set_level`
// drives it high, then low (KVM_IRQ_LINE, an edge for an edge-triggered
// IOAPIC pin, as an irqfd's injection does). On x86_64 KVM injects an irqfd
// that names an IOAPIC pin (not an MSI) from a kworker: the eventfd write
// wakes it on the writer's CPU, two context switches per interrupt. Measured
// on the 2-CPU development host, a pulse every 2 us from one thread: 2.6 us
// of that thread's time per irqfd write against 1.0 us for the two ioctls.
//
// One pulse at a time: a device served by two threads (a block device's
// queues with two vCPUs) raises its line from both. Unserialised, thread B
// could drive the line high while thread A's pulse still held it high: KVM
// counts that as no edge, and no interrupt follows B's used buffer. The
// driver may already have read the interrupt status for A's edge and
// scanned B's queue before B used its buffer, so B's completion waited for
// some later interrupt, and a guest with nothing else pending hung with
// every vCPU halted. Under the lock, B's pulse starts from a low line, so
// every trigger() makes an edge after the status bits it follows.
class LinePulseInterrupt final : public InterruptLine {
public:
    explicit LinePulseInterrupt(std::function<void(bool level)> set_level)
        : m_set_level(std::move(set_level))
    {
    }
    void trigger() override
    {
        std::lock_guard const pulse(m_pulse);
        m_set_level(true);
        m_set_level(false);
    }

private:
    std::function<void(bool level)> m_set_level;
    std::mutex m_pulse;
};
}
