#pragma once

#include "container/ContainerSpec.h"
#include "container/SpecMounts.h"

#include <optional>
#include <span>

namespace vmm::container {

// An OCI "cgroup" mount (/sys/fs/cgroup) on a cgroup v1 host, for a
// container with a cgroup namespace of its own: a tmpfs holding a directory
// per v1 hierarchy that the container has its own cgroup in (and, as on the
// host, "cpu" -> "cpu,cpuacct"), each to be mounted anew from inside the
// namespace, where its root is the container's cgroup. That is what runc
// and Docker show a container, so that a program can read its limits
// (memory.limit_in_bytes, cpu.cfs_quota_us, pids.max); a hierarchy without a
// cgroup of the container's own would show the runtime's cgroup and those
// of its neighbours, and is left out. nullopt where this does not apply (a
// v2 host mounts cgroup2 in the namespace; without a namespace of its own
// the host's tree is bound, read-only).
std::optional<DetachedMount> make_cgroup_v1_view(ContainerSpec const& spec, MountSpec const& mount);

// Mounts the hierarchies of each view among `mounts` (spec.mounts' detached
// mounts, attached in the root this process has pivoted into). Runs once
// the container's cgroup namespace exists, before capabilities are dropped.
void mount_cgroup_v1_hierarchies(ContainerSpec const& spec, std::span<DetachedMount const> mounts);

}
