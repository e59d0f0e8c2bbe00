#include "container/ContainerTerminal.h"

#include "common/Error.h"
#include "common/FdPassing.h"
#include "common/FileDescriptor.h"
#include "common/Terminal.h"

#include <fcntl.h>
#include <span>
#include <sys/ioctl.h>
#include <unistd.h>
#include <utility>

namespace vmm::container {

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

}
