#pragma once

#include "container/Capabilities.h"
#include "common/cgroup/Cgroup.h"
#include "container/ContainerSpec.h"
#include "container/Namespaces.h"
#include "container/RootFilesystem.h"

#include <linux/filter.h>
#include <span>
#include <string>

namespace vmm::container {

enum class ParentDeath {
    KillsContainer, // vmm --container, oci run: the container dies with vmm.
    Survives,       // oci create: the container outlives the create command.
};

// Work that the parent does after the clone where it can, at the same time
// as the child's own set-up (on two CPUs the start is shorter by it); what
// it makes comes on prepared_fd.
enum class ParentMakes {
    Nothing,
    // The parent made a directory rootfs's overlay (as root, without a user
    // namespace): the detached mount comes in a message before the root is
    // entered.
    Overlay,
};

// What the child runs in until it executes the container's program.
enum class ChildMemory {
    // A copy of vmm's (a fork): vmm goes on after the clone, and makes what
    // it can then (ParentMakes, CgroupJoin::WithPreparedByte) while the
    // child sets up; they talk over the sync pipe and the prepared socket.
    Copied,
    // vmm's own (clone_sharing_memory()): vmm made everything before the
    // clone and waits until the child executes, which asks nothing of it,
    // and writes nothing of vmm's (`root` is read only). Where a fork's new
    // process first faults on every page it touches, which costs as much as
    // the set-up itself on a guest whose page faults are slow, this child
    // touches pages vmm has already, and no copy of vmm is made or undone.
    Shared,
};

// When the child joins its cgroup.
enum class CgroupJoin {
    // First thing (`cgroup`, made before the clone): v2 clones into it, and
    // hooks must see the child in it.
    First,
    // cgroup v1 without hooks: the parent makes the cgroup after the clone,
    // while the child mounts its root; its tasks files come with the
    // prepared byte (and the cgroup namespace is made after joining).
    WithPreparedByte,
};

// What create's process writes on the error pipe once it is set up and
// waits for start: a byte no error message starts with.
constexpr char created_and_waiting = '\0';

// What the child needs to turn itself into the container's first process.
struct ContainerInitContext {
    ContainerSpec const& spec;
    ChildMemory memory;
    RootSource& root; // ChildMemory::Copied: the child's own copy, which takes the parent's overlay. Shared: vmm's, read only.
    UserNamespace user_namespace;
    Cgroup* cgroup; // CgroupJoin::First: joined first thing; null when there is none.
    CgroupJoin cgroup_join;
    ParentMakes parent_makes;
    ParentDeath parent_death;
    int parent_pidfd; // ParentDeath::KillsContainer: a pidfd of the parent, readable once it has exited.
    int sync_fd;    // Read end (ChildMemory::Copied): a byte once the parent has written the id maps and run its hooks, then the hooks' state JSON.
    int error_fd; // Write end (close-on-exec): a one-line error, if set-up fails.
    int marker_fd;   // InitKind::Embedded: write end for init's boot marker, kept open across execve.
    int init_program_fd; // InitKind::Embedded: guest/init in a memfd the parent fills and seals after the clone.
    int prepared_fd; // ChildMemory::Copied: a socket, a byte (with the cgroup's tasks files for CgroupJoin::WithPreparedByte) once the parent wrote the cgroup and sealed init_program_fd.
    int terminal_fd; // ProcessTerminal::Pseudo: a socket for the pty master; -1 otherwise.
    int start_fd;    // create: closes error_fd, then waits for a byte here before the exec; -1: no wait.
    int preserve_fds; // Fds 3..3+N-1 stay open across the exec.
    std::span<sock_filter const> seccomp_program; // Empty: none.
};

// Runs in the cloned child: joins the cgroup and namespaces, finishes the
// isolation (cgroup namespace, hostname, loopback, root file system, user,
// rlimits, capabilities, seccomp), closes every fd above 2 (but preserved
// ones) and executes the process (or vmm's init with it as the command).
// Never returns: on failure it writes the error to error_fd and exits.
[[noreturn]] void become_container_init(ContainerInitContext const& context);

}
