#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <termios.h>
#include <vector>

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

struct WindowSize {
    uint16_t rows { 0 };
    uint16_t columns { 0 };
    bool operator==(WindowSize const&) const = default;
};

// The size of the terminal `fd` is, if it is one and knows its size.
std::optional<WindowSize> terminal_window_size(int fd);

// The console escape of kvmtool and QEMU, for both the VM's console and the
// container's terminal: Ctrl-A x quits; Ctrl-A Ctrl-A sends one Ctrl-A.
class ConsoleEscape {
public:
    static constexpr uint8_t escape_key = 0x01; // Ctrl-A.

    enum class Action {
        Forward,
        Quit,
    };

    // Appends to `forwarded` what `typed` sends on; Quit once Ctrl-A x is
    // typed (what follows it is dropped). An escape key at the end of
    // `typed` waits for the next call.
    Action filter(std::span<uint8_t const> typed, std::vector<uint8_t>& forwarded);

private:
    bool m_pending { false };
};

}
