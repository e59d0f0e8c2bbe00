#pragma once

#include "container/ContainerSpec.h"
#include "container/Namespaces.h"

namespace vmm::container {

// Fills the container's /dev (mounted already, from the spec's mounts) as
// the OCI runtime-spec asks: the default devices null, zero, full, random,
// urandom and tty where they are missing, the spec's own devices, /dev/ptmx
// pointing into /dev/pts and the fd, stdin, stdout and stderr links. Nodes
// are made with mknod, or inside a user namespace (where mknod is not
// allowed) bound from the host's nodes. Where a bind mount covers /dev (a
// host directory: --volume HOST_DIR:/dev) nothing is made, as runc does:
// the container gets what that directory has, and it is never written.
void create_devices(int rootfs_fd, ContainerSpec const& spec, UserNamespace user_namespace);

}
