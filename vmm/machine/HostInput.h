#pragma once

#include "common/EventLoop.h"
#include "common/Terminal.h"
#include "vmm/devices/ConsoleDataEncoder.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

namespace vmm {

// How vmm's stdin reaches the guest's console.
enum class InputEncoding {
    Typed, // A person at a terminal: keys as typed, less the Ctrl-A escape.
    Data,  // A pipe or a file: escaped for the console's line discipline, then VEOF (ConsoleDataEncoder).
    Raw,   // Test guests, which speak no protocol: bytes as they come.
};

// vmm's stdin on its way to the guest's console (the 8250 or
// virtio-console), on the I/O thread. vmm reads only while the console holds
// fewer than high_water bytes the guest has not taken, and reads again once
// the guest has taken them (the device signals `room_fd`, an eventfd): a long
// pipe is never read faster than the guest takes it, so nothing is dropped.
// A stdin that epoll refuses (a regular file, /dev/null) is read the same
// way, a piece at a time from the loop. With `ready` given, nothing is read
// before it turns true (then signal `room_fd`): data must not reach the
// console before guest/init has set it up, or the line discipline would
// echo it with the kernel's default settings.
class HostInput {
public:
    struct Console {
        std::function<void(std::span<uint8_t const>)> queue;
        std::function<size_t()> pending;
    };
    static constexpr size_t high_water = 2048;
    static constexpr size_t read_size = 512;

    // `quit` is called when Ctrl-A x is typed.
    HostInput(EventLoop& loop, int fd, int room_fd, InputEncoding encoding, Console console, std::function<void()> quit,
        std::atomic<bool> const* ready = nullptr);
    ~HostInput();
    HostInput(HostInput const&) = delete;
    HostInput& operator=(HostInput const&) = delete;

private:
    void read_some();
    void forward(std::span<uint8_t const> bytes);
    void end_of_input();
    void on_room();
    void wake_myself();
    bool may_read() const { return !m_ready || m_ready->load(); }

    EventLoop& m_loop;
    int m_fd;
    int m_room_fd;
    InputEncoding m_encoding;
    Console m_console;
    std::function<void()> m_quit;
    std::atomic<bool> const* m_ready;
    bool m_pollable { false };
    bool m_watching { false };
    bool m_ended { false };
    ConsoleEscape m_escape;
    ConsoleDataEncoder m_encoder;
};

}
