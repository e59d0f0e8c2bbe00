#pragma once

#include "common/FileDescriptor.h"

namespace vmm {

// A pidfd of the calling process (close-on-exec), for a child it forks to
// pass to die_with_parent: it becomes readable once this process has exited.
FileDescriptor open_own_pidfd();

// SIGKILL for the calling process when its parent exits. The kernel clears
// PR_SET_PDEATHSIG whenever the credentials change, so a process calls this
// again after each change. A parent that exited before the signal was armed
// is seen through `parent_pidfd` (getppid() cannot tell: it says 0 in a new
// PID namespace whoever the parent is); the process exits at once then,
// with status 1, since nobody would wait for it or clean up after it.
void die_with_parent(int parent_pidfd);

}
