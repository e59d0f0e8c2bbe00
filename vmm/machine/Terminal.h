#pragma once

#include <termios.h>

namespace vmm {

// Puts a terminal in raw mode for as long as it lives, so that keys reach
// the guest as typed, and restores the saved settings on every exit path.
// Does nothing when the fd is not a terminal.
class RawTerminal {
public:
    explicit RawTerminal(int fd);
    RawTerminal(RawTerminal const&) = delete;
    RawTerminal& operator=(RawTerminal const&) = delete;
    ~RawTerminal();

    bool is_active() const { return m_active; }

private:
    int m_fd;
    bool m_active { false };
    termios m_saved {};
};

}
