#include "container/ContainerProcess.h"

#include "common/Error.h"
#include "guest/protocol.h"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

namespace vmm::container {

pid_t ContainerProcess::release()
{
    return std::exchange(m_pid, -1);
}

void ContainerProcess::kill_and_wait()
{
    if (m_pid > 0) {
        ::kill(m_pid, SIGKILL);
        wait();
    }
}

int ContainerProcess::wait()
{
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0) {
        if (errno != EINTR)
            throw_system_error("waitpid", "(container init)");
    }
    m_pid = -1;
    return vmm_exit_status_from_wait_status(status);
}

Pipe Pipe::create()
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0)
        throw_system_error("pipe2");
    return { FileDescriptor(fds[0]), FileDescriptor(fds[1]) };
}

Pipe Pipe::create_socket_pair()
{
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
        throw_system_error("socketpair");
    return { FileDescriptor(fds[0]), FileDescriptor(fds[1]) };
}

ChildPlacement::ChildPlacement(pid_t child)
    : m_child(child)
{
    cpu_set_t original;
    int const cpu = ::sched_getcpu();
    if (cpu < 0 || cpu >= CPU_SETSIZE || ::sched_getaffinity(child, sizeof(original), &original) < 0)
        return;
    cpu_set_t elsewhere = original;
    CPU_CLR(cpu, &elsewhere);
    if (CPU_COUNT(&elsewhere) == 0 || ::sched_setaffinity(child, sizeof(elsewhere), &elsewhere) < 0)
        return;
    m_original = original;
}

ChildPlacement::~ChildPlacement()
{
    if (m_original)
        ::sched_setaffinity(m_child, sizeof(*m_original), &*m_original);
}

void ChildPlacement::restore()
{
    if (!m_original)
        return;
    auto const original = *m_original;
    m_original.reset();
    // A child that is gone already has nothing to inherit it.
    if (::sched_setaffinity(m_child, sizeof(original), &original) < 0 && errno != ESRCH)
        throw_system_error("sched_setaffinity", fmt::format("(container process {})", m_child));
}

}
