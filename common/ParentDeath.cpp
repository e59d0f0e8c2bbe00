#include "common/ParentDeath.h"

#include "common/Error.h"

#include <cerrno>
#include <csignal>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vmm {

FileDescriptor open_own_pidfd()
{
    FileDescriptor pidfd(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
    if (!pidfd.is_valid())
        throw_system_error("pidfd_open", "(vmm itself)");
    return pidfd;
}

void die_with_parent(int parent_pidfd)
{
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        throw_system_error("prctl PR_SET_PDEATHSIG");
    pollfd parent { parent_pidfd, POLLIN, 0 };
    int ready;
    while ((ready = ::poll(&parent, 1, 0)) < 0 && errno == EINTR) { }
    if (ready < 0)
        throw_system_error("poll", "(the parent's pidfd)");
    if (ready > 0)
        ::_exit(1);
}

}
