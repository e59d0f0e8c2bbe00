#pragma once

#include "container/Namespaces.h"

namespace vmm::container {

// Mounts a tmpfs on the rootfs's /dev and fills it as the OCI runtime-spec
// asks: null, zero, full, random, urandom and tty (device nodes, or bind
// mounts of the host's nodes inside a user namespace, where mknod is not
// allowed), a new devpts instance on /dev/pts with /dev/ptmx pointing into
// it, /dev/shm, /dev/mqueue, and the fd, stdin, stdout and stderr links.
void populate_dev(int rootfs_fd, UserNamespace user_namespace);

}
