#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <termios.h>
#include <vector>

namespace vmm {

// What the host terminal does with what vmm writes to it while raw.
enum class OutputProcessing {
    // "\n" still becomes "\r\n" (OPOST): vmm boot writes messages of its own
    // (warnings from its threads, the reason it stopped) while the terminal
    // is raw, each ending in "\n" alone.
    Kept,
    // Bytes pass as they are (cfmakeraw), as runc leaves the terminal: the
    // container's pty has made "\r\n" of each "\n" already, and vmm writes
    // nothing of its own meanwhile.
    Off,
};

// Puts a terminal in raw mode for as long as it lives, so that keys reach
// the guest as typed, and restores the saved settings on every exit path.
// Does nothing when the fd is not a terminal.
class RawTerminal {
public:
    explicit RawTerminal(int fd, OutputProcessing output = OutputProcessing::Kept);
    RawTerminal(RawTerminal const&) = delete;
    RawTerminal& operator=(RawTerminal const&) = delete;
    ~RawTerminal();

    bool is_active() const { return m_active; }

    // Sets the raw mode again where something else changed the terminal's
    // settings meanwhile: a shell puts its own back while vmm is stopped,
    // and `fg` only continues vmm. Does nothing while vmm is not the
    // terminal's foreground job (a background job's tcsetattr is stopped
    // with SIGTTOU) or when the settings are still raw. True if it set them.
    bool restore_if_changed();

private:
    int m_fd;
    bool m_active { false };
    termios m_saved {};
    termios m_raw {};
};

struct WindowSize {
    uint16_t rows { 0 };
    uint16_t columns { 0 };
    bool operator==(WindowSize const&) const = default;
};

// The size of the terminal `fd` is, if it is one and knows its size.
std::optional<WindowSize> terminal_window_size(int fd);

// Gives the terminal `to_fd` the window size of the terminal `from_fd`,
// where that one knows its size.
void copy_window_size(int from_fd, int to_fd);

// Whether this process may use the terminal `fd` without being stopped: it
// is not its controlling terminal, or this process is its foreground job.
bool is_terminal_foreground(int fd);

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
