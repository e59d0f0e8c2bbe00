#pragma once

#include "container/Capabilities.h"
#include "common/cgroup/Cgroup.h"
#include "container/Container.h"
#include "container/Namespaces.h"
#include "container/RootFilesystem.h"

namespace vmm::container {

// What the child needs to turn itself into the container's PID 1.
struct ContainerInitContext {
    ContainerOptions const& options;
    RootSource const& root;
    UserNamespace user_namespace;
    Cgroup* cgroup; // Joined first thing; null when the container has none.
    DeviceCreation device_creation; // Whether that cgroup enforces the device allowlist.
    int sync_fd;    // Read end: a byte once the id maps are written and eth0 is configured (user namespace or bridge).
    int error_fd; // Write end (close-on-exec): a one-line error, if set-up fails.
    int marker_fd;   // Write end for init's boot marker, kept open across execve.
    int init_program_fd; // guest/init in a sealed memfd (create_init_program()).
    int terminal_fd; // A socket for the pty master (TerminalMode::Pseudo); -1 otherwise.
};

// Runs in the cloned child: joins the cgroup, finishes the isolation (cgroup
// namespace, hostname, loopback, root file system, capabilities, seccomp),
// closes every fd above 2 and executes /sbin/init with
// {"/sbin/init", "--", CMD...} in a minimal environment. Never returns: on
// failure it writes the error to error_fd and exits.
[[noreturn]] void become_container_init(ContainerInitContext const& context);

}
