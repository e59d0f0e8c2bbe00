#include "vmm/machine/HostInput.h"

#include "common/Error.h"

#include <cerrno>
#include <cstring>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <vector>

namespace vmm {

HostInput::HostInput(EventLoop& loop, int fd, int room_fd, InputEncoding encoding, Console console, std::function<void()> quit,
    std::atomic<bool> const* ready)
    : m_loop(loop)
    , m_fd(fd)
    , m_room_fd(room_fd)
    , m_encoding(encoding)
    , m_console(std::move(console))
    , m_quit(std::move(quit))
    , m_ready(ready)
{
    m_loop.add(m_room_fd, [this](uint32_t) { on_room(); });
    try {
        m_loop.add(m_fd, [this](uint32_t) { read_some(); });
        m_pollable = true;
        m_watching = true;
    } catch (Error const&) {
        // epoll refuses regular files and /dev/null, which are always readable.
        spdlog::debug("stdin cannot be polled; it is read a piece at a time");
    }
    if (!may_read() && m_watching) {
        m_loop.remove(m_fd);
        m_watching = false;
    }
    if (!m_pollable)
        wake_myself();
}

HostInput::~HostInput()
{
    if (m_watching)
        m_loop.remove(m_fd);
    m_loop.remove(m_room_fd);
}

void HostInput::wake_myself()
{
    uint64_t const one = 1;
    // A full counter already wakes the loop.
    [[maybe_unused]] auto written = ::write(m_room_fd, &one, sizeof(one));
}

void HostInput::on_room()
{
    uint64_t count = 0;
    [[maybe_unused]] auto got = ::read(m_room_fd, &count, sizeof(count));
    if (m_ended || !may_read() || m_console.pending() >= high_water)
        return;
    if (!m_pollable) {
        read_some();
    } else if (!m_watching) {
        m_loop.add(m_fd, [this](uint32_t) { read_some(); });
        m_watching = true;
    }
}

void HostInput::read_some()
{
    if (m_ended)
        return;
    if (!may_read() || m_console.pending() >= high_water) {
        // Until the guest has taken what waits (the device signals the room eventfd).
        if (m_watching) {
            m_loop.remove(m_fd);
            m_watching = false;
        }
        return;
    }
    uint8_t buffer[read_size];
    ssize_t const got = ::read(m_fd, buffer, sizeof(buffer));
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (got <= 0) {
        if (got < 0)
            spdlog::debug("stdin: read failed ({}); the guest gets no more input", std::strerror(errno));
        end_of_input();
        return;
    }
    forward({ buffer, static_cast<size_t>(got) });
    // A file is read on: after the other work waiting in the loop.
    if (!m_pollable && !m_ended)
        wake_myself();
}

void HostInput::forward(std::span<uint8_t const> bytes)
{
    std::vector<uint8_t> forwarded;
    switch (m_encoding) {
    case InputEncoding::Typed:
        if (m_escape.filter(bytes, forwarded) == ConsoleEscape::Action::Quit) {
            m_ended = true;
            m_quit();
            return;
        }
        break;
    case InputEncoding::Data:
        m_encoder.encode(bytes, forwarded);
        break;
    case InputEncoding::Raw:
        forwarded.assign(bytes.begin(), bytes.end());
        break;
    }
    if (!forwarded.empty())
        m_console.queue(forwarded);
}

void HostInput::end_of_input()
{
    m_ended = true;
    if (m_watching) {
        m_loop.remove(m_fd);
        m_watching = false;
    }
    // The command reads end of file, as it would from the pipe itself.
    if (m_encoding == InputEncoding::Data) {
        std::vector<uint8_t> end;
        m_encoder.finish(end);
        m_console.queue(end);
    }
}

}
