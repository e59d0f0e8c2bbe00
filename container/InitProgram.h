#pragma once

#include "common/FileDescriptor.h"

namespace vmm::container {

// guest/init, which vmm carries, in a sealed memfd: the container's PID 1
// is executed from it (execveat), never from the rootfs, so any tree runs
// and none is written to. Sealed against writes, growing and shrinking, as
// runc seals its own binary (CVE-2019-5736): a container cannot change the
// init that other containers run.
//
// Made in two steps so that the copy costs no time before the container:
// the memfd is created empty before the clone (the child inherits it) and
// filled and sealed by the parent while the child mounts its root. The
// child executes it only after the parent's byte says it is sealed.
FileDescriptor create_empty_init_program();
void fill_and_seal_init_program(int program_fd);

// Executes the program of fill_and_seal_init_program(); returns only on failure.
void execute_init_program(int program_fd, char* const* argv, char* const* envp);

}
