#include "common/Terminal.h"

#include <algorithm>
#include <iterator>
#include <sys/ioctl.h>
#include <unistd.h>

namespace vmm {

namespace {

// The settings that make a terminal raw or cooked; the speeds live in c_cflag.
bool same_settings(termios const& left, termios const& right)
{
    return left.c_iflag == right.c_iflag && left.c_oflag == right.c_oflag && left.c_cflag == right.c_cflag && left.c_lflag == right.c_lflag
        && std::equal(std::begin(left.c_cc), std::end(left.c_cc), std::begin(right.c_cc));
}

}

RawTerminal::RawTerminal(int fd, OutputProcessing output)
    : m_fd(fd)
{
    if (!isatty(fd) || tcgetattr(fd, &m_saved) != 0)
        return;
    termios raw = m_saved;
    cfmakeraw(&raw);
    if (output == OutputProcessing::Kept)
        raw.c_oflag |= OPOST;
    if (tcsetattr(fd, TCSANOW, &raw) != 0)
        return;
    m_active = true;
    // What the terminal kept of them (a driver may leave out what it does
    // not support) is what a later change is told from.
    if (tcgetattr(fd, &m_raw) != 0)
        m_raw = raw;
}

RawTerminal::~RawTerminal()
{
    if (m_active)
        tcsetattr(m_fd, TCSANOW, &m_saved);
}

bool RawTerminal::restore_if_changed()
{
    if (!m_active || !is_terminal_foreground(m_fd))
        return false;
    // A terminal that fails these is gone (hung up): it has no mode left to
    // set, and its end reaches vmm as SIGHUP.
    termios current {};
    if (tcgetattr(m_fd, &current) != 0 || same_settings(current, m_raw))
        return false;
    return tcsetattr(m_fd, TCSANOW, &m_raw) == 0;
}

void copy_window_size(int from_fd, int to_fd)
{
    winsize size {};
    if (::ioctl(from_fd, TIOCGWINSZ, &size) == 0)
        ::ioctl(to_fd, TIOCSWINSZ, &size);
}

bool is_terminal_foreground(int fd)
{
    // ENOTTY when it is not this process's controlling terminal: then job
    // control does not apply to this process's use of it.
    pid_t const foreground = ::tcgetpgrp(fd);
    return foreground < 0 || foreground == ::getpgrp();
}

std::optional<WindowSize> terminal_window_size(int fd)
{
    winsize size {};
    if (::ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_row == 0 || size.ws_col == 0)
        return std::nullopt;
    return WindowSize { size.ws_row, size.ws_col };
}

ConsoleEscape::Action ConsoleEscape::filter(std::span<uint8_t const> typed, std::vector<uint8_t>& forwarded)
{
    for (auto byte : typed) {
        if (m_pending) {
            m_pending = false;
            if (byte == 'x')
                return Action::Quit;
            if (byte != escape_key)
                forwarded.push_back(escape_key);
        } else if (byte == escape_key) {
            m_pending = true;
            continue;
        }
        forwarded.push_back(byte);
    }
    return Action::Forward;
}

}
