#pragma once

#include "common/FileDescriptor.h"

#include <csignal>
#include <iterator>
#include <sys/types.h>

namespace vmm::container {

// Forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to the container's init while
// it runs and ignores SIGPIPE (a child that died early closes the sync pipe),
// and puts the previous handlers back afterwards.
class SignalForwarder {
public:
    SignalForwarder();
    ~SignalForwarder();
    SignalForwarder(SignalForwarder const&) = delete;
    SignalForwarder& operator=(SignalForwarder const&) = delete;

    void forward_to(pid_t pid);

private:
    static constexpr int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
    struct sigaction m_previous[std::size(signals)] {};
    struct sigaction m_previous_pipe {};
};

// The container's init as the parent sees it. Killed and reaped on
// destruction if nobody waited for it, so an error path leaves no process.
class ContainerProcess {
public:
    explicit ContainerProcess(pid_t pid)
        : m_pid(pid)
    {
    }
    ~ContainerProcess() { kill_and_wait(); }
    ContainerProcess(ContainerProcess const&) = delete;
    ContainerProcess& operator=(ContainerProcess const&) = delete;

    pid_t pid() const { return m_pid; }
    // create: the process outlives this object (and vmm).
    pid_t release();

    void kill_and_wait();
    // Waits for init and returns its status as a shell reports it.
    int wait();

private:
    pid_t m_pid;
};

// The two ends of a pipe or, from create_socket_pair(), of a socket pair.
struct Pipe {
    FileDescriptor read_end;
    FileDescriptor write_end;

    static Pipe create();
    // Both ends can read and write (messages with fds too); the parent keeps read_end.
    static Pipe create_socket_pair();
};

}
