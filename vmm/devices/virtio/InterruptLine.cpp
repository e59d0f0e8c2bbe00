#include "vmm/devices/virtio/InterruptLine.h"

#include "common/Error.h"

#include <sys/eventfd.h>

namespace vmm::virtio {

EventFdInterrupt::EventFdInterrupt()
    : m_event(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (!m_event.is_valid())
        throw_system_error("eventfd", "virtio interrupt");
}

void EventFdInterrupt::trigger()
{
    uint64_t const one = 1;
    // A full counter (EAGAIN) means an interrupt is already pending, which is all a write asks for.
    [[maybe_unused]] auto written = ::write(m_event.get(), &one, sizeof(one));
}

}
