#pragma once

#include "vmm/sandbox/BootSeccomp.h"

namespace vmm::sandbox {

// Confining `vmm boot` once the machine is set up, before the guest runs.
// The exit status of vmm when a thread makes a forbidden system call: that
// of a process killed by SIGSYS, after a message naming the call and the thread.
inline constexpr int forbidden_syscall_exit_status = 128 + 31;

// On the main thread, before any vCPU thread exists (they inherit it all):
// the SIGSYS handler that reports forbidden calls, no_new_privs, and no
// capabilities (ambient, bounding, effective, permitted, inheritable).
void prepare_process();

// Loads the seccomp filter of `kind` into the calling thread (and the threads
// it creates afterwards). Throws an Error if the kernel refuses it.
void confine_thread(ThreadKind kind);

}
