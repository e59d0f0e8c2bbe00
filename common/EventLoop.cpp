#include "common/EventLoop.h"

#include "common/Error.h"

#include <array>
#include <cerrno>
#include <memory>
#include <sys/epoll.h>
#include <sys/eventfd.h>

namespace vmm {

EventLoop::EventLoop()
    : m_epoll(epoll_create1(EPOLL_CLOEXEC))
    , m_stop_event(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (!m_epoll.is_valid())
        throw_system_error("epoll_create1");
    if (!m_stop_event.is_valid())
        throw_system_error("eventfd", "event loop stop");
    epoll_event event {};
    event.events = EPOLLIN;
    event.data.fd = m_stop_event.get();
    if (epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, m_stop_event.get(), &event) != 0)
        throw_system_error("epoll_ctl", "event loop stop");
}

void EventLoop::add(int fd, Callback callback, uint32_t events)
{
    std::lock_guard lock(m_mutex);
    epoll_event event {};
    event.events = events;
    event.data.fd = fd;
    if (epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &event) != 0)
        throw_system_error("epoll_ctl", "EPOLL_CTL_ADD");
    m_callbacks[fd] = std::make_shared<Callback>(std::move(callback));
}

void EventLoop::remove(int fd)
{
    std::lock_guard lock(m_mutex);
    epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
    m_callbacks.erase(fd);
}

void EventLoop::run()
{
    std::array<epoll_event, 16> events {};
    while (!m_stopping.load()) {
        int count = epoll_wait(m_epoll.get(), events.data(), static_cast<int>(events.size()), -1);
        if (count < 0) {
            if (errno == EINTR)
                continue;
            throw_system_error("epoll_wait");
        }
        for (int index = 0; index < count; ++index) {
            int const fd = events[index].data.fd;
            if (fd == m_stop_event.get())
                return;
            std::shared_ptr<Callback> callback;
            {
                std::lock_guard lock(m_mutex);
                auto it = m_callbacks.find(fd);
                if (it == m_callbacks.end())
                    continue;
                callback = it->second;
            }
            (*callback)(events[index].events);
        }
    }
}

void EventLoop::stop()
{
    m_stopping.store(true);
    uint64_t const one = 1;
    // The loop only needs to wake; a full counter already wakes it.
    [[maybe_unused]] auto written = ::write(m_stop_event.get(), &one, sizeof(one));
}

}
