// The queue side of MmioTransport: notifications, passes over the queues and polling.
#include "vmm/devices/virtio/MmioTransport.h"

#include <algorithm>
#include <fmt/format.h>
#include <unistd.h>

namespace vmm::virtio {

void MmioTransport::kick()
{
    for (uint16_t index = 0; index < m_queues.size(); ++index)
        kick(index);
}

void MmioTransport::kick(uint16_t queue)
{
    uint64_t const one = 1;
    // A full counter (EAGAIN) already wakes the I/O thread.
    [[maybe_unused]] auto written = ::write(m_notify[queue].get(), &one, sizeof(one));
}

void MmioTransport::handle_notify_event(uint16_t queue)
{
    uint64_t count = 0;
    // EAGAIN: a spurious wake-up; the queue is served all the same.
    [[maybe_unused]] auto bytes = ::read(m_notify[queue].get(), &count, sizeof(count));
    m_notifications.fetch_add(1, std::memory_order_relaxed);
    if (serve(queue, 1) != PassResult::Done)
        return;
    if (auto const polling = m_polling.load(std::memory_order_relaxed); polling > 0)
        poll_queues(std::chrono::microseconds(polling), queue);
}

void MmioTransport::set_polling(std::chrono::microseconds bound)
{
    m_polling.store(bound.count(), std::memory_order_relaxed);
}

void MmioTransport::process_queues()
{
    if (serve(0, queue_count()) != PassResult::Done)
        return;
    if (auto const polling = m_polling.load(std::memory_order_relaxed); polling > 0)
        poll_queues(std::chrono::microseconds(polling), 0);
}

MmioTransport::PassResult MmioTransport::serve_queue(uint16_t index, bool& interrupt)
{
    std::string broken;
    {
        std::lock_guard lock(m_queue_locks[index]);
        if (!m_running.load(std::memory_order_acquire))
            return PassResult::Stopped;
        auto& queue = m_queues[index];
        if (!queue.is_ready())
            return PassResult::Done;
        m_passes.fetch_add(1, std::memory_order_relaxed);
        auto const health = m_device->process_queue(index, queue);
        if (health != QueueHealth::Broken) {
            interrupt = queue.needs_interrupt() || interrupt;
            if (health == QueueHealth::Healthy)
                return PassResult::Done;
            // The rest waits behind the other queues, devices, signals and input.
            kick(index);
            return PassResult::MoreWork;
        }
        broken = queue.last_error();
    }
    // fail() needs the register lock, which comes before a queue's.
    std::lock_guard lock(m_mutex);
    if (is_running())
        fail(fmt::format("queue {}: {}", index, broken));
    return PassResult::Stopped;
}

MmioTransport::PassResult MmioTransport::serve(uint16_t first, uint16_t count)
{
    bool interrupt = false;
    auto result = PassResult::Done;
    for (uint16_t index = first; index < first + count && result != PassResult::Stopped; ++index) {
        auto const queue_result = serve_queue(index, interrupt);
        if (queue_result != PassResult::Done)
            result = queue_result;
    }
    // One interrupt for every queue of the pass (the driver's handler looks at them all).
    if (interrupt)
        raise_interrupt(interrupt::used_buffer);
    return result;
}

bool MmioTransport::has_available()
{
    for (uint16_t index = 0; index < m_queues.size(); ++index) {
        std::lock_guard lock(m_queue_locks[index]);
        if (!m_running.load(std::memory_order_acquire))
            return false;
        if (m_queues[index].is_ready() && m_queues[index].has_available())
            return true;
    }
    return false;
}

namespace {

void relax()
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

}

void MmioTransport::poll_queues(std::chrono::microseconds bound, uint16_t origin)
{
    using Clock = std::chrono::steady_clock;
    auto set_notifications = [this](DriverNotifications wanted) {
        bool arrived = false;
        for (uint16_t index = 0; index < m_queues.size(); ++index) {
            std::lock_guard lock(m_queue_locks[index]);
            if (m_queues[index].is_ready())
                arrived = m_queues[index].set_driver_notifications(wanted) || arrived;
        }
        return arrived;
    };
    set_notifications(DriverNotifications::Suppressed);
    auto const start = Clock::now();
    // A poll that yielded goes on to its own deadline: the kick that brings
    // it back is no request, and an idle guest must not keep it alive.
    auto deadline = m_poll_resumes_until.value_or(start + bound);
    m_poll_resumes_until.reset();
    for (;;) {
        auto const now = Clock::now();
        if (now >= deadline)
            break;
        if (now - start >= polling_slice) {
            // Notifications stay off: the kick brings the I/O thread back here.
            m_poll_resumes_until = deadline;
            kick(origin);
            return;
        }
        if (!has_available()) {
            relax();
            continue;
        }
        auto const result = serve(0, queue_count());
        if (result == PassResult::MoreWork)
            return;
        if (result == PassResult::Stopped)
            break;
        deadline = Clock::now() + bound;
    }
    // A request made available after the last look but before the driver
    // saw notifications on again would wait for the next one: serve it now.
    if (set_notifications(DriverNotifications::Wanted))
        kick();
}

}
