#pragma once

#include "common/FileDescriptor.h"

namespace vmm::container {

// guest/init, which vmm carries, in a sealed memfd: the container's PID 1
// is executed from it (execveat), never from the rootfs, so any tree runs
// and none is written to. Sealed against writes, growing and shrinking, as
// runc seals its own binary (CVE-2019-5736): a container cannot change the
// init that other containers run.
FileDescriptor create_init_program();

// Executes the program of create_init_program(); returns only on failure.
void execute_init_program(int program_fd, char* const* argv, char* const* envp);

}
