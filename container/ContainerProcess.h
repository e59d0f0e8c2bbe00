#pragma once

#include "common/FileDescriptor.h"

#include <csignal>
#include <iterator>
#include <optional>
#include <sched.h>
#include <sys/types.h>

namespace vmm::container {

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

// Keeps a new child off its parent's CPU while the parent has set-up work
// of its own, so that the two run side by side. Some kernels start a forked
// child on its parent's CPU and run it only once the parent blocks, though
// another CPU is idle (the development hosts' kernel, which packs a guest's
// tasks onto few vCPUs: sched_vcpu_pack on its command line); the parent's
// part of a start and the child's then take turns. Elsewhere the child
// mostly starts on another CPU already and stays where it is.
class ChildPlacement {
public:
    // Takes the caller's CPU out of the child's affinity where the child has
    // another to go to. A failure moves nothing: only time is lost.
    explicit ChildPlacement(pid_t child);
    // Puts the child's affinity back, errors ignored: on an error path,
    // where the child is about to be killed.
    ~ChildPlacement();
    ChildPlacement(ChildPlacement const&) = delete;
    ChildPlacement& operator=(ChildPlacement const&) = delete;

    // Gives the child back the CPUs it started with. Called before anything
    // of the container runs: its processes would inherit the narrower set.
    void restore();

private:
    pid_t m_child;
    std::optional<cpu_set_t> m_original; // Set while the child's affinity is narrowed.
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
