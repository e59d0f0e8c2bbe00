#pragma once

#include "common/FileDescriptor.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

namespace vmm {

// The guest's console output on its way to the host (vmm's stdout), shared
// by the 8250 and virtio-console. A write never blocks the vCPU or the I/O
// thread that makes it, so a host reader that stalls cannot stall the VMM or
// keep it from shutting down: what the host does not take at once waits in a
// bounded buffer, flushed when the output becomes writable again (the I/O
// thread watches pollable_fd()) and, at shutdown, for as long as it makes
// progress. Output beyond the buffer is dropped and counted. Thread-safe.
//
// A device whose guest driver can wait (the 8250's CTS line) asks
// is_backed_up() and holds its guest back while the buffer is filling: once
// it holds a quarter of its limit, until it is down to a sixteenth (so that
// the line does not change with every byte). Then a slow reader loses
// nothing: the guest's writer waits, as a program writing to a pipe does.
// The rest of the buffer is for what cannot wait (the kernel's own console
// messages, virtio-console's hvc0, whose driver spins until the host takes
// each write).
class ConsoleOutput {
public:
    static constexpr size_t default_buffer_limit = 1024 * 1024;

    // `fd` stays the caller's. Pipes, terminals and character devices are
    // reopened (through /proc/self/fd) as a file description of our own in
    // non-blocking mode: setting O_NONBLOCK on the shared one would change it
    // for the shell that started vmm too.
    explicit ConsoleOutput(int fd, size_t buffer_limit = default_buffer_limit);

    void write(std::span<uint8_t const> bytes);

    // The descriptor to watch for EPOLLOUT (edge-triggered is enough: the
    // buffer only fills after a write found the output full), or -1 when
    // writes to the output never wait (a regular file).
    int pollable_fd() const;
    // Writes what the buffer holds, as far as the output takes it now.
    void flush();
    // At shutdown: flushes, waiting for the output while it makes progress;
    // gives up once it took nothing for `stall_timeout` and counts what is
    // left as dropped. Returns whether everything was written.
    bool drain(std::chrono::milliseconds stall_timeout);

    // Whether writers that can wait should (see above); never without a
    // resumed callback, which tells them when to go on.
    bool is_backed_up() const;
    // `callback` runs when a backed-up spell ends, on the thread of the
    // flush() or notify_if_resumed() that saw it end, without the output's
    // lock (it may ask is_backed_up()). Set it before the output is used.
    void set_resumed_callback(std::function<void()> callback) { m_resumed = std::move(callback); }
    // For a writer that holds no lock of the resumed callback's: runs the
    // callback if one of its own writes ended a backed-up spell (write()
    // never runs it, since the 8250 writes with its own lock held).
    void notify_if_resumed();

    size_t buffered() const;
    uint64_t dropped_bytes() const;

private:
    enum class Mode {
        Blocking,    // A regular file or block device: writes do not wait for a reader.
        NonBlocking, // Our own non-blocking file description of the output.
        Socket,      // send() with MSG_DONTWAIT.
    };

    // One write of up to `size` bytes: the count written, 0 when the output
    // is full, -1 when it failed for good (a closed pipe).
    ssize_t write_some(uint8_t const* data, size_t size);
    void flush_locked();
    void drop_locked(size_t count);
    void update_backed_up_locked();
    bool take_resume_locked();

    int m_fd;
    FileDescriptor m_own;
    Mode m_mode { Mode::Blocking };
    size_t m_buffer_limit;

    mutable std::mutex m_mutex;
    std::vector<uint8_t> m_buffer;
    size_t m_buffer_start { 0 }; // Bytes of m_buffer already written.
    uint64_t m_dropped { 0 };
    bool m_broken { false }; // The output went away: everything is dropped.
    bool m_backed_up { false };
    bool m_resume_pending { false }; // A backed-up spell began; its end is not reported yet.
    std::function<void()> m_resumed;
};

}
