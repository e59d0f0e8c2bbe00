#pragma once

#include "common/FileDescriptor.h"

#include <sys/types.h>

namespace vmm::container {

// The container's interactive terminal, as `docker run -it` gives: a
// pseudo-terminal of the container's own devpts instance, so that nothing
// in the container ever holds the host's terminal.

// In the child, after /dev/pts is mounted and the root pivoted: opens a pty
// there, copies the window size of the host terminal on fd 0, makes the
// slave the controlling terminal (the child leads its session) and fds 0-2,
// and sends the master to the parent over `socket_fd` (SCM_RIGHTS).
void attach_container_terminal(int socket_fd);

// In the parent: the master the child sent; throws if it sent none.
FileDescriptor receive_container_terminal(int socket_fd);

// In the parent: relays between vmm's terminal (stdin in raw mode, restored
// on every exit) and the pty master with epoll, forwards window size
// changes (SIGWINCH), and returns once `init_pid` has exited and its last
// output is drained. Ctrl-A x kills the container. Signals to vmm still
// reach init through the caller's forwarder.
void relay_container_terminal(int master_fd, pid_t init_pid);

}
