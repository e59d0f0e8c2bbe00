#pragma once

#include "common/FileDescriptor.h"
#include "container/Container.h"
#include "container/ContainerSpec.h"
#include "container/IdMapping.h"

#include <cstdint>
#include <sys/types.h>

namespace vmm::container {

enum class UserNamespace {
    No,
    Yes,
};

// The CLONE_NEW* flags of a container with `options`. The cgroup namespace is
// not among them: the child unshares it after joining its cgroup, so that
// the cgroup becomes the root it sees.
uint64_t namespace_clone_flags(NetworkMode network, UserNamespace user_namespace);

// The CLONE_NEW* flags for the namespaces `spec` creates (those without a
// path), but the cgroup namespace (see above).
uint64_t namespace_clone_flags(ContainerSpec const& spec);

// clone3() without a new stack, like fork(): returns the child's PID in the
// parent and 0 in the child, which is PID 1 of its new PID namespace. With a
// `cgroup_fd` (a cgroup v2 directory) the child starts in that cgroup.
pid_t clone_into_namespaces(uint64_t flags, int cgroup_fd = -1);

// Starts `child(argument)` in new namespaces (`flags`) and, with a
// `cgroup_fd`, in that cgroup v2, as clone_into_namespaces() does, but as a
// process that shares this one's memory until it executes a program or
// exits, as posix_spawn starts a program (CLONE_VM | CLONE_VFORK): the
// caller waits until then, and gets the child's PID. The child must write
// nothing the caller owns. Called from the main thread only: the child's
// stack is the part of it below the caller's frames (see the .cpp).
pid_t clone_sharing_memory(uint64_t flags, int cgroup_fd, int (*child)(void*), void* argument);

// Writes the uid and gid maps of the child's user namespace. An unprivileged
// caller writes "deny" to setgroups first (CVE-2014-8989), as it must.
void write_id_maps(pid_t child, IdMapping const& mapping);

// Writes the spec's uid and gid maps (any number of lines) for `child`.
void write_id_maps(pid_t child, std::vector<IdMapEntry> const& users, std::vector<IdMapEntry> const& groups);

// A user namespace with `mapping`, open (its process is gone), for
// idmapped mounts that show the container's files as its own.
FileDescriptor create_user_namespace(IdMapping const& mapping);

// Brings the loopback interface of the current network namespace up.
void bring_up_loopback();

}
