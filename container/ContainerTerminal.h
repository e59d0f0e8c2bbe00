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

// In the parent: relays between vmm's terminal (stdin in raw mode, output
// processing off as runc leaves it, restored on every exit) and the pty
// master with epoll, forwards window size changes (SIGWINCH), and returns
// once `init_pid` has exited and its last output is drained. Ctrl-A x kills
// the container. Signals to vmm still reach init through the caller's
// forwarder (SignalProxy, which also ignores SIGPIPE, as the relay needs).
// Neither direction waits for the other: the master is made non-blocking,
// stdout (a pipe or terminal) is written through a non-blocking description
// of its own, and each direction holds at most 64 KiB, beyond which its
// source waits. After SIGCONT (vmm stopped and continued while its shell
// set the terminal back to cooked) the raw mode is set again. Once stdout
// fails (its reader exited), the terminal's foreground job gets SIGPIPE,
// and where it is still there a second later the pty is hung up: then
// `master_fd` is left open on /dev/null, for the caller to close as usual.
void relay_container_terminal(int master_fd, pid_t init_pid);

}
