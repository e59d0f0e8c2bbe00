#include "vmm/devices/ConsoleOutput.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>

namespace vmm {

ConsoleOutput::ConsoleOutput(int fd, size_t buffer_limit)
    : m_fd(fd)
    , m_buffer_limit(buffer_limit)
{
    struct stat status {};
    if (fstat(fd, &status) != 0) {
        spdlog::debug("console output: fstat of descriptor {}: {}; its writes may block", fd, std::strerror(errno));
        return;
    }
    if (S_ISREG(status.st_mode) || S_ISBLK(status.st_mode))
        return;
    if (S_ISSOCK(status.st_mode)) {
        m_mode = Mode::Socket;
        return;
    }
    int const flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK)) {
        m_mode = Mode::NonBlocking; // Someone made it non-blocking already (tests do).
        return;
    }
    auto const path = fmt::format("/proc/self/fd/{}", fd);
    m_own = FileDescriptor(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!m_own.is_valid()) {
        // Without /proc (or with a pipe that has no reader left) the writes
        // go to the shared descriptor and may block.
        spdlog::debug("console output: open {}: {}; its writes may block", path, std::strerror(errno));
        return;
    }
    m_fd = m_own.get();
    m_mode = Mode::NonBlocking;
}

int ConsoleOutput::pollable_fd() const
{
    return m_mode == Mode::Blocking ? -1 : m_fd;
}

ssize_t ConsoleOutput::write_some(uint8_t const* data, size_t size)
{
    for (;;) {
        ssize_t const done = m_mode == Mode::Socket ? ::send(m_fd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL) : ::write(m_fd, data, size);
        if (done >= 0)
            return done;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -1;
    }
}

void ConsoleOutput::write(std::span<uint8_t const> bytes)
{
    std::lock_guard lock(m_mutex);
    if (m_broken) {
        m_dropped += bytes.size();
        return;
    }
    // Straight out while nothing waits, so that the order is kept.
    bool const was_waiting = m_buffer_start != m_buffer.size();
    size_t written = 0;
    if (!was_waiting) {
        while (written < bytes.size()) {
            ssize_t const done = write_some(bytes.data() + written, bytes.size() - written);
            if (done < 0) {
                // A console that cannot be written (a closed pipe) loses the
                // guest's output, as a cut cable would, not the guest.
                m_broken = true;
                m_dropped += bytes.size() - written;
                return;
            }
            if (done == 0)
                break;
            written += static_cast<size_t>(done);
        }
    }
    auto const rest = bytes.subspan(written);
    size_t const room = m_buffer_limit - std::min(m_buffer_limit, m_buffer.size() - m_buffer_start);
    size_t const kept = std::min(room, rest.size());
    m_buffer.insert(m_buffer.end(), rest.begin(), rest.begin() + static_cast<ptrdiff_t>(kept));
    m_dropped += rest.size() - kept;
    if (was_waiting)
        flush_locked();
    update_backed_up_locked();
}

void ConsoleOutput::flush()
{
    {
        std::lock_guard lock(m_mutex);
        flush_locked();
        if (!take_resume_locked())
            return;
    }
    m_resumed();
}

void ConsoleOutput::notify_if_resumed()
{
    {
        std::lock_guard lock(m_mutex);
        if (!take_resume_locked())
            return;
    }
    m_resumed();
}

bool ConsoleOutput::is_backed_up() const
{
    std::lock_guard lock(m_mutex);
    // Without a callback nobody would be told when to go on.
    return m_backed_up && m_resumed;
}

void ConsoleOutput::update_backed_up_locked()
{
    size_t const held = m_buffer.size() - m_buffer_start;
    if (!m_backed_up && held >= m_buffer_limit / 4) {
        m_backed_up = true;
        m_resume_pending = true;
    } else if (m_backed_up && held <= m_buffer_limit / 16) {
        m_backed_up = false;
    }
}

bool ConsoleOutput::take_resume_locked()
{
    if (m_backed_up || !m_resume_pending || !m_resumed)
        return false;
    m_resume_pending = false;
    return true;
}

void ConsoleOutput::flush_locked()
{
    while (m_buffer_start < m_buffer.size()) {
        ssize_t const done = write_some(m_buffer.data() + m_buffer_start, m_buffer.size() - m_buffer_start);
        if (done < 0) {
            m_broken = true;
            drop_locked(m_buffer.size() - m_buffer_start);
            return;
        }
        if (done == 0)
            break;
        m_buffer_start += static_cast<size_t>(done);
    }
    // Compact once the written part dominates: each byte moves O(1) times.
    if (m_buffer_start == m_buffer.size()) {
        m_buffer.clear();
        m_buffer_start = 0;
    } else if (m_buffer_start > m_buffer.size() / 2) {
        m_buffer.erase(m_buffer.begin(), m_buffer.begin() + static_cast<ptrdiff_t>(m_buffer_start));
        m_buffer_start = 0;
    }
    update_backed_up_locked();
}

void ConsoleOutput::drop_locked(size_t count)
{
    m_dropped += count;
    m_buffer.clear();
    m_buffer_start = 0;
    update_backed_up_locked();
}

bool ConsoleOutput::drain(std::chrono::milliseconds stall_timeout)
{
    using Clock = std::chrono::steady_clock;
    auto last_progress = Clock::now();
    size_t previous = SIZE_MAX;
    for (;;) {
        size_t left = 0;
        {
            std::lock_guard lock(m_mutex);
            flush_locked();
            left = m_buffer.size() - m_buffer_start;
            if (left == 0)
                return true;
            auto const now = Clock::now();
            if (left < previous)
                last_progress = now;
            previous = left;
            if (now - last_progress >= stall_timeout) {
                drop_locked(left);
                return false;
            }
        }
        auto const wait = std::chrono::duration_cast<std::chrono::milliseconds>(stall_timeout - (Clock::now() - last_progress));
        pollfd descriptor { m_fd, POLLOUT, 0 };
        // An error or a hang-up shows in the next write; EINTR just loops.
        ::poll(&descriptor, 1, static_cast<int>(std::max<int64_t>(1, wait.count())));
    }
}

size_t ConsoleOutput::buffered() const
{
    std::lock_guard lock(m_mutex);
    return m_buffer.size() - m_buffer_start;
}

uint64_t ConsoleOutput::dropped_bytes() const
{
    std::lock_guard lock(m_mutex);
    return m_dropped;
}

}
