#include "common/Terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

namespace vmm {

RawTerminal::RawTerminal(int fd)
    : m_fd(fd)
{
    if (!isatty(fd) || tcgetattr(fd, &m_saved) != 0)
        return;
    termios raw = m_saved;
    cfmakeraw(&raw);
    // Keep output post-processing so the host's own messages stay readable.
    raw.c_oflag |= OPOST;
    if (tcsetattr(fd, TCSANOW, &raw) == 0)
        m_active = true;
}

RawTerminal::~RawTerminal()
{
    if (m_active)
        tcsetattr(m_fd, TCSANOW, &m_saved);
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
