#pragma once

#include "vmm/machine/BootOptions.h"

#include <optional>

namespace vmm {

// vmm boot --jail, after Firecracker's jailer: the VMM runs as PID 1 of new
// PID, mount, IPC, UTS and network namespaces, with a root file system (a
// tmpfs) that holds only what it was given: the kernel, the initrd and the
// disks (bind-mounted, read-only where they are), /dev/kvm, and /proc; and
// in a cgroup of its own (the container runtime's) that limits its memory
// to guest RAM plus an allowance, its CPU time to one CPU per vCPU and one
// for the I/O thread, and its tasks. Needs root. In the parent, which waits for the jailed VMM and passes it the
// stop signals, returns the exit status to end with; in the jailed child,
// returns nothing, with `options` naming the files at their jail paths.
std::optional<int> enter_jail(BootOptions& options);

}
