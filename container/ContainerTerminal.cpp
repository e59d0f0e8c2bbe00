#include "container/ContainerTerminal.h"

#include "common/Error.h"
#include "common/FdPassing.h"
#include "common/FileDescriptor.h"
#include "common/Terminal.h"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <span>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>
#include <vector>

namespace vmm::container {

namespace {

void copy_window_size(int from_fd, int to_fd)
{
    winsize size {};
    if (::ioctl(from_fd, TIOCGWINSZ, &size) == 0)
        ::ioctl(to_fd, TIOCSWINSZ, &size);
}

// SIGWINCH as an fd for the relay's epoll, blocked while the relay runs.
class WindowChanges {
public:
    WindowChanges()
    {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGWINCH);
        if (::sigprocmask(SIG_BLOCK, &set, &m_previous) < 0)
            throw_system_error("sigprocmask", "SIGWINCH");
        m_fd = FileDescriptor(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!m_fd.is_valid())
            throw_system_error("signalfd", "SIGWINCH");
    }
    ~WindowChanges() { ::sigprocmask(SIG_SETMASK, &m_previous, nullptr); }
    WindowChanges(WindowChanges const&) = delete;
    WindowChanges& operator=(WindowChanges const&) = delete;

    int fd() const { return m_fd.get(); }
    void acknowledge()
    {
        signalfd_siginfo info {};
        while (::read(m_fd.get(), &info, sizeof(info)) > 0) { }
    }

private:
    FileDescriptor m_fd;
    sigset_t m_previous {};
};

// Reads what the container wrote and is still in the pty: the terminal's
// last lines must reach the user after the command exits. Once init has
// exited every slave fd is closed (its PID namespace is gone), so the
// master reads EIO after the last byte; the wait bounds a stuck reader.
void drain(int master_fd)
{
    constexpr int quiet_milliseconds = 1000;
    char buffer[4096];
    for (;;) {
        pollfd readable { master_fd, POLLIN, 0 };
        int ready = ::poll(&readable, 1, quiet_milliseconds);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return;
        ssize_t length = ::read(master_fd, buffer, sizeof(buffer));
        if (length < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (length <= 0 || !write_all(STDOUT_FILENO, buffer, static_cast<size_t>(length)))
            return;
    }
}

enum Source : uint64_t {
    Keyboard,
    Container,
    WindowChange,
    InitExit,
};

}

void attach_container_terminal(int socket_fd)
{
    FileDescriptor master(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master.is_valid())
        throw_system_error("open", "/dev/ptmx (container terminal)");
    int unlock = 0;
    if (::ioctl(master.get(), TIOCSPTLCK, &unlock) < 0)
        throw_system_error("ioctl TIOCSPTLCK", "/dev/ptmx");
    // The slave through the master (not by its /dev/pts path, which the
    // container's files could redirect).
    FileDescriptor slave(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave.is_valid())
        throw_system_error("ioctl TIOCGPTPEER", "/dev/ptmx");
    copy_window_size(STDIN_FILENO, master.get());
    if (::ioctl(slave.get(), TIOCSCTTY, 0) < 0)
        throw_system_error("ioctl TIOCSCTTY", "(container terminal)");
    for (int fd = 0; fd <= 2; ++fd) {
        if (::dup2(slave.get(), fd) < 0)
            throw_system_error("dup2", "(container terminal)");
    }
    int const fd = master.get();
    send_byte_with_fds(socket_fd, std::span(&fd, 1), "(container terminal)");
}

FileDescriptor receive_container_terminal(int socket_fd)
{
    auto fds = receive_byte_with_fds(socket_fd, "(container terminal)");
    if (!fds || fds->size() != 1)
        throw Error("the container sent no terminal");
    return std::move(fds->front());
}

void relay_container_terminal(int master_fd, pid_t init_pid)
{
    FileDescriptor init_exit(static_cast<int>(::syscall(SYS_pidfd_open, init_pid, 0)));
    if (!init_exit.is_valid())
        throw_system_error("pidfd_open", "(container init)");
    WindowChanges window_changes;
    RawTerminal raw_terminal(STDIN_FILENO);
    copy_window_size(STDIN_FILENO, master_fd);

    FileDescriptor epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll.is_valid())
        throw_system_error("epoll_create1", "(container terminal)");
    auto watch = [&](int fd, Source source) {
        epoll_event event {};
        event.events = EPOLLIN;
        event.data.u64 = source;
        return ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &event) == 0;
    };
    // stdin may be something epoll cannot watch (a regular file): then the
    // container simply gets no input.
    watch(STDIN_FILENO, Keyboard);
    if (!watch(master_fd, Container) || !watch(window_changes.fd(), WindowChange) || !watch(init_exit.get(), InitExit))
        throw_system_error("epoll_ctl", "(container terminal)");

    ConsoleEscape escape;
    std::vector<uint8_t> forwarded;
    char buffer[4096];
    for (;;) {
        epoll_event events[4];
        int count = ::epoll_wait(epoll.get(), events, 4, -1);
        if (count < 0) {
            if (errno == EINTR)
                continue; // A forwarded signal: init decides what it means.
            throw_system_error("epoll_wait", "(container terminal)");
        }
        for (int index = 0; index < count; ++index) {
            switch (events[index].data.u64) {
            case Keyboard: {
                ssize_t length = ::read(STDIN_FILENO, buffer, sizeof(buffer));
                if (length == 0 || (length < 0 && errno != EINTR && errno != EAGAIN)) {
                    // The host terminal is gone: keep showing output, stop reading.
                    ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, STDIN_FILENO, nullptr);
                    break;
                }
                if (length <= 0)
                    break;
                forwarded.clear();
                auto typed = std::span(reinterpret_cast<uint8_t const*>(buffer), static_cast<size_t>(length));
                if (escape.filter(typed, forwarded) == ConsoleEscape::Action::Quit)
                    ::kill(init_pid, SIGKILL);
                write_all(master_fd, reinterpret_cast<char const*>(forwarded.data()), forwarded.size());
                break;
            }
            case Container: {
                ssize_t length = ::read(master_fd, buffer, sizeof(buffer));
                if (length > 0)
                    write_all(STDOUT_FILENO, buffer, static_cast<size_t>(length));
                else if (length < 0 && errno != EINTR && errno != EAGAIN)
                    ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, master_fd, nullptr); // EIO: no slave open now.
                break;
            }
            case WindowChange:
                window_changes.acknowledge();
                copy_window_size(STDIN_FILENO, master_fd);
                break;
            case InitExit:
                drain(master_fd);
                return;
            }
        }
    }
}

}
