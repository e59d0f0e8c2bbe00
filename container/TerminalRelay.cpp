// The terminal relay of `vmm --container -t`, `vmm-runc run` and `exec -t`
// (declared in container/ContainerTerminal.h).

#include "container/ContainerTerminal.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "common/Terminal.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdint>
#include <fcntl.h>
#include <optional>
#include <span>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace vmm::container {

namespace {

// How much of each direction may wait for its destination: a source is read
// only while less waits, so a destination that takes nothing stops it.
constexpr size_t pending_limit = 64 * 1024;
constexpr size_t read_size = 4096;
// After init's exit its output is relayed until nothing moved for this long
// (`exec`'s process may leave a child holding the slave); the terminal's job
// has as long to die of SIGPIPE (Relay::host_output_failed).
constexpr std::chrono::milliseconds quiet_limit { 1000 };
constexpr uint32_t readable = EPOLLIN;
constexpr uint32_t writable = EPOLLOUT;
using Clock = std::chrono::steady_clock;

// SIGWINCH (through a signalfd) and SIGCONT, blocked but in the relay's
// epoll_pwait: a SIGCONT always ends that wait with EINTR, once the caller's
// handler (its signal proxy forwards it) has run, wherever vmm was stopped.
// Where nothing handles SIGCONT the signalfd takes it.
class RelaySignals {
public:
    RelaySignals()
    {
        struct sigaction continue_action {};
        if (::sigaction(SIGCONT, nullptr, &continue_action) < 0)
            throw_system_error("sigaction", "SIGCONT");
        bool const handled = (continue_action.sa_flags & SA_SIGINFO) || (continue_action.sa_handler != SIG_DFL && continue_action.sa_handler != SIG_IGN);
        sigset_t taken;
        sigemptyset(&taken);
        sigaddset(&taken, SIGWINCH);
        if (!handled)
            sigaddset(&taken, SIGCONT);
        m_fd = FileDescriptor(::signalfd(-1, &taken, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!m_fd.is_valid())
            throw_system_error("signalfd", "SIGWINCH, SIGCONT");
        sigset_t blocked = taken;
        sigaddset(&blocked, SIGCONT);
        if (::sigprocmask(SIG_BLOCK, &blocked, &m_previous) < 0)
            throw_system_error("sigprocmask", "SIGWINCH, SIGCONT");
        sigorset(&m_wait_mask, &m_previous, &taken);
    }
    ~RelaySignals() { ::sigprocmask(SIG_SETMASK, &m_previous, nullptr); }
    RelaySignals(RelaySignals const&) = delete;
    RelaySignals& operator=(RelaySignals const&) = delete;

    int fd() const { return m_fd.get(); }
    sigset_t const* wait_mask() const { return &m_wait_mask; }

    // Reads what came: true if SIGCONT did.
    bool take_continued()
    {
        bool continued = false;
        signalfd_siginfo info {};
        while (::read(m_fd.get(), &info, sizeof(info)) == sizeof(info))
            continued |= info.ssi_signo == SIGCONT;
        return continued;
    }

private:
    FileDescriptor m_fd;
    sigset_t m_previous {};
    sigset_t m_wait_mask {};
};

// Bytes on their way from one side to the other (see pending_limit).
class PendingBytes {
public:
    bool is_empty() const { return m_start == m_bytes.size(); }
    bool is_full() const { return m_bytes.size() - m_start >= pending_limit; }
    void append(std::span<uint8_t const> bytes) { m_bytes.insert(m_bytes.end(), bytes.begin(), bytes.end()); }
    void clear()
    {
        m_bytes.clear();
        m_start = 0;
    }

    // Writes up to `most` of its bytes to `fd`: the write's result.
    ssize_t write_to(int fd, size_t most)
    {
        ssize_t const written = ::write(fd, m_bytes.data() + m_start, std::min(most, m_bytes.size() - m_start));
        if (written > 0)
            m_start += static_cast<size_t>(written);
        // Written bytes go once the limit's worth (a destination never done).
        if (is_empty())
            clear();
        else if (m_start >= pending_limit)
            m_bytes.erase(m_bytes.begin(), m_bytes.begin() + static_cast<std::ptrdiff_t>(std::exchange(m_start, 0)));
        return written;
    }

private:
    std::vector<uint8_t> m_bytes;
    size_t m_start { 0 };
};

// stdout opened again with O_NONBLOCK where it is a pipe or a terminal: on
// the shell's own description it would reach the shell too (for good after
// a SIGKILL). Invalid otherwise (a regular file takes everything; a socket
// is written as it is) and where it fails (no /proc; ENXIO: a pipe without
// a reader, whose write fails too): stdout is then written as it is.
FileDescriptor open_host_output()
{
    struct stat status {};
    if (::fstat(STDOUT_FILENO, &status) < 0)
        throw_system_error("fstat", "stdout");
    if (!S_ISFIFO(status.st_mode) && !(S_ISCHR(status.st_mode) && ::isatty(STDOUT_FILENO)))
        return {};
    return FileDescriptor(::open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
}

// An fd of the relay's epoll and what it waits for; without any it is out
// of the set, where a hang-up would be reported over and over.
struct Watch {
    int fd { -1 };
    uint64_t source { 0 };
    uint32_t events { 0 };
    bool pollable { true }; // False for what epoll cannot watch (a regular file).
};

class Relay {
public:
    Relay(int master_fd, pid_t init_pid)
        : m_master_fd(master_fd)
        , m_init_pid(init_pid)
        , m_init_exit(static_cast<int>(::syscall(SYS_pidfd_open, init_pid, 0)))
        , m_raw_terminal(STDIN_FILENO, OutputProcessing::Off)
        , m_own_output(open_host_output())
        , m_epoll(::epoll_create1(EPOLL_CLOEXEC))
    {
        if (!m_init_exit.is_valid())
            throw_system_error("pidfd_open", "(container init)");
        if (!m_epoll.is_valid())
            throw_system_error("epoll_create1", "(container terminal)");
        // The master is the relay's alone: the container's process sent its copy.
        int const flags = ::fcntl(master_fd, F_GETFL);
        if (flags < 0 || ::fcntl(master_fd, F_SETFL, flags | O_NONBLOCK) < 0)
            throw_system_error("fcntl O_NONBLOCK", "(container terminal)");
        copy_window_size(STDIN_FILENO, master_fd);
        m_output = { m_own_output.is_valid() ? m_own_output.get() : STDOUT_FILENO, Screen };
        m_keyboard_in_front = is_terminal_foreground(STDIN_FILENO);
        set(m_signal_watch, readable);
    }

    void run()
    {
        for (;;) {
            update_watches();
            // What epoll cannot watch (a regular file) takes everything at once.
            if (!m_output.pollable)
                write_host();
            auto const now = Clock::now();
            if (m_hang_up_at && now >= *m_hang_up_at) {
                hang_up();
                continue;
            }
            if (m_init_exited && (is_drained() || now - m_last_progress >= quiet_limit))
                return;
            epoll_event events[5];
            int const count = ::epoll_pwait(m_epoll.get(), events, 5, timeout_milliseconds(now), m_signals.wait_mask());
            if (count < 0 && errno == EINTR) {
                continued(); // A handler ran: SIGCONT's, maybe.
                continue;
            }
            if (count < 0)
                throw_system_error("epoll_pwait", "(container terminal)");
            for (int index = 0; index < count; ++index)
                handle(events[index].data.u64, events[index].events);
        }
    }

private:
    enum Source : uint64_t { Keyboard, Container, Screen, Signals, InitExit };

    // All the output reached stdout, or never will.
    bool is_drained() const { return !m_host_output_open || (!m_container_output_open && m_to_host.is_empty()); }

    // Until the end of the quiet after init's exit, or the hang-up.
    int timeout_milliseconds(Clock::time_point now) const
    {
        if (!m_init_exited && !m_hang_up_at)
            return -1;
        auto const left = std::chrono::ceil<std::chrono::milliseconds>((m_init_exited ? m_last_progress + quiet_limit : *m_hang_up_at) - now);
        return static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT32_MAX));
    }

    void set(Watch& watch, uint32_t events)
    {
        if (!watch.pollable || events == watch.events)
            return;
        epoll_event event {};
        event.events = events;
        event.data.u64 = watch.source;
        int const operation = events == 0 ? EPOLL_CTL_DEL : watch.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        if (::epoll_ctl(m_epoll.get(), operation, watch.fd, &event) < 0) {
            // EPERM: stdin or stdout is what epoll cannot watch (a regular
            // file, /dev/null); such a stdin gives the container no input.
            if (errno != EPERM || (watch.source != Keyboard && watch.source != Screen))
                throw_system_error("epoll_ctl", "(container terminal)");
            watch.pollable = false;
            return;
        }
        watch.events = events;
    }

    void update_watches()
    {
        bool const takes_keys = m_keyboard_open && m_keyboard_in_front && !m_init_exited && !m_to_container.is_full();
        set(m_keyboard, takes_keys ? readable : 0);
        uint32_t container = 0;
        if (m_container_output_open && (!m_host_output_open || !m_to_host.is_full()))
            container |= readable;
        if (m_container_input_open && !m_to_container.is_empty())
            container |= writable;
        set(m_container, container);
        set(m_output, m_host_output_open && !m_to_host.is_empty() ? writable : 0);
        set(m_init_watch, m_init_exited ? 0 : readable);
    }

    void handle(uint64_t source, uint32_t events)
    {
        switch (source) {
        case Keyboard:
            read_keyboard();
            break;
        case Container:
            // A hang-up (no slave open) shows as EIO on the side in use.
            if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && m_container_input_open)
                write_container();
            if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && m_container_output_open)
                read_container();
            break;
        case Screen:
            write_host();
            break;
        case Signals:
            if (m_signals.take_continued())
                continued();
            else
                copy_window_size(STDIN_FILENO, m_master_fd);
            break;
        case InitExit:
            m_init_exited = true;
            m_last_progress = Clock::now();
            m_container_input_open = false;
            m_to_container.clear();
            break;
        }
    }

    void read_keyboard()
    {
        uint8_t buffer[read_size];
        ssize_t const length = ::read(STDIN_FILENO, buffer, sizeof(buffer));
        if (length < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        if (length <= 0) {
            m_keyboard_open = false; // The host terminal is gone: keep showing output.
            return;
        }
        std::vector<uint8_t> forwarded;
        if (m_escape.filter(std::span(buffer, static_cast<size_t>(length)), forwarded) == ConsoleEscape::Action::Quit)
            ::kill(m_init_pid, SIGKILL); // Fails only once it is gone, which the pidfd tells.
        m_to_container.append(forwarded);
    }

    void write_container()
    {
        if (m_to_container.write_to(m_master_fd, pending_limit) < 0 && errno != EAGAIN && errno != EINTR) {
            m_container_input_open = false; // EIO: no slave open.
            m_to_container.clear();
        }
    }

    void read_container()
    {
        uint8_t buffer[read_size];
        ssize_t const length = ::read(m_master_fd, buffer, sizeof(buffer));
        if (length < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (length <= 0) {
            m_container_output_open = false; // EIO after the last byte: no slave open.
            return;
        }
        m_last_progress = Clock::now();
        if (m_host_output_open)
            m_to_host.append(std::span(buffer, static_cast<size_t>(length)));
    }

    void write_host()
    {
        while (m_host_output_open && !m_to_host.is_empty()) {
            // Where stdout could not be opened without blocking, a write of
            // at most PIPE_BUF to a pipe that epoll found writable never waits.
            ssize_t const written = m_to_host.write_to(m_output.fd, m_own_output.is_valid() ? pending_limit : PIPE_BUF);
            if (written < 0 && (errno == EAGAIN || errno == EINTR))
                return;
            if (written <= 0)
                return host_output_failed();
            m_last_progress = Clock::now();
            if (m_output.pollable)
                return;
        }
    }

    // stdout failed (EPIPE: its reader exited). A command writing there
    // would die of SIGPIPE; the container's writes go to its pty, so the
    // SIGPIPE comes from here, as from runc in effect: its write fails too,
    // and its signal proxy forwards the SIGPIPE that comes with it to the
    // container's process, which ends with 141 as natively. Here it goes to
    // the pty's foreground job, the writer as a shell runs it (vmm-init, a
    // PID 1, would drop it). Its output is dropped from now on, and a job
    // that ignores SIGPIPE (Python does, to see EPIPE) sees its terminal
    // hang up after a while instead of writing on forever (runc's waits).
    void host_output_failed()
    {
        m_host_output_open = false;
        m_to_host.clear();
        set(m_output, 0);
        pid_t const job = ::tcgetpgrp(m_master_fd); // Through the master: the slave's foreground job.
        ::kill(job > 0 ? -job : m_init_pid, SIGPIPE); // Fails only for a job that is gone.
        m_hang_up_at = Clock::now() + quiet_limit;
    }

    // Closes the pty's last master, so that the slave hangs up: its reads
    // end, its writes fail with EIO, and its session leader and foreground
    // job get SIGHUP. The caller's fd stays open, on /dev/null.
    void hang_up()
    {
        m_hang_up_at.reset();
        set(m_container, 0);
        m_container_input_open = false;
        m_container_output_open = false;
        auto null = FileDescriptor::open("/dev/null", O_RDWR);
        if (::dup3(null.get(), m_master_fd, O_CLOEXEC) < 0)
            throw_system_error("dup3", "(container terminal)");
    }

    // After SIGCONT: while vmm was stopped its shell set the terminal back
    // to its own mode (and the window may have changed). In the background
    // vmm leaves the terminal alone and reads nothing until `fg`.
    void continued()
    {
        m_keyboard_in_front = is_terminal_foreground(STDIN_FILENO);
        if (!m_keyboard_in_front)
            return;
        m_raw_terminal.restore_if_changed();
        copy_window_size(STDIN_FILENO, m_master_fd);
    }

    int m_master_fd;
    pid_t m_init_pid;
    FileDescriptor m_init_exit;
    RelaySignals m_signals;
    RawTerminal m_raw_terminal;
    FileDescriptor m_own_output;
    FileDescriptor m_epoll;
    Watch m_keyboard { STDIN_FILENO, Keyboard };
    Watch m_container { m_master_fd, Container };
    Watch m_output;
    Watch m_signal_watch { m_signals.fd(), Signals };
    Watch m_init_watch { m_init_exit.get(), InitExit };
    ConsoleEscape m_escape;
    PendingBytes m_to_container;
    PendingBytes m_to_host;
    bool m_keyboard_open { true };
    bool m_keyboard_in_front { true };
    bool m_container_input_open { true };
    bool m_container_output_open { true };
    bool m_host_output_open { true };
    bool m_init_exited { false };
    Clock::time_point m_last_progress {};
    std::optional<Clock::time_point> m_hang_up_at;
};

}

void relay_container_terminal(int master_fd, pid_t init_pid)
{
    Relay(master_fd, init_pid).run();
}

}
