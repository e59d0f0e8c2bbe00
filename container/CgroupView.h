#pragma once

#include "container/ContainerSpec.h"
#include "container/SpecMounts.h"

#include <optional>
#include <span>

namespace vmm::container {

// An OCI "cgroup" mount (/sys/fs/cgroup), so that a program can read its
// limits there (memory.max; on v1 memory/memory.limit_in_bytes,
// cpu.cfs_quota_us, pids.max), as runc and Docker show a container its
// cgroup, and nothing of the host's other cgroups.
// - v1: a tmpfs holding a directory per v1 hierarchy that the container has
//   its own cgroup in (and, as on the host, "cpu" -> "cpu,cpuacct"). With a
//   cgroup namespace of its own, each hierarchy is mounted anew from inside
//   the namespace, where its root is the container's cgroup; without one,
//   the container's cgroup directory of each is bound there, so that the
//   paths match /proc/self/cgroup either way. A hierarchy without a cgroup
//   of the container's own would show the runtime's cgroup and its
//   neighbours', and is left out.
// - v2 without a cgroup namespace of its own: its cgroup directory, bound.
// nullopt elsewhere: a v2 host's cgroup2 is mounted in the namespace.
std::optional<DetachedMount> make_cgroup_view(ContainerSpec const& spec, MountSpec const& mount);

// Whether the container's view binds its cgroup directories (no cgroup
// namespace of its own): they have to exist before the child makes its
// mounts, so the cgroup is made before the clone.
bool binds_cgroup_v1_directories(ContainerSpec const& spec);

// Attaches each view's binds into it, once it is attached in the root.
void attach_cgroup_v1_binds(ContainerSpec const& spec, std::span<DetachedMount const> mounts);

// Mounts the hierarchies of each view among `mounts` (spec.mounts' detached
// mounts, attached in the root this process has pivoted into). Runs once
// the container's cgroup namespace exists, before capabilities are dropped.
void mount_cgroup_v1_hierarchies(ContainerSpec const& spec, std::span<DetachedMount const> mounts);

}
