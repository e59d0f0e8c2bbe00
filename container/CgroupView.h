#pragma once

#include "container/ContainerSpec.h"
#include "container/SpecMounts.h"

#include <optional>
#include <span>

namespace vmm::container {

// An OCI "cgroup" mount (/sys/fs/cgroup) on a cgroup v1 host: a tmpfs
// holding a directory per v1 hierarchy that the container has its own
// cgroup in (and, as on the host, "cpu" -> "cpu,cpuacct"). With a cgroup
// namespace of its own, each hierarchy is mounted anew from inside the
// namespace, where its root is the container's cgroup; without one, the
// container's cgroup directory of each is bound there (the paths match
// /proc/self/cgroup either way). That is what runc and Docker show a
// container, so that a program can read its limits (memory.limit_in_bytes,
// cpu.cfs_quota_us, pids.max); a hierarchy without a cgroup of the
// container's own would show the runtime's cgroup and its neighbours', and
// is left out, as the host's other cgroups are. nullopt where this does not
// apply (a v2 host mounts cgroup2, in the namespace where there is one).
std::optional<DetachedMount> make_cgroup_v1_view(ContainerSpec const& spec, MountSpec const& mount);

// Whether the container's view binds its cgroup directories (no cgroup
// namespace of its own): they have to exist before the child makes its
// mounts, so the cgroup is made before the clone.
bool binds_cgroup_v1_directories(ContainerSpec const& spec);

// Attaches each view's binds into it, once it is attached in the root.
void attach_cgroup_v1_binds(std::span<DetachedMount const> mounts);

// Mounts the hierarchies of each view among `mounts` (spec.mounts' detached
// mounts, attached in the root this process has pivoted into). Runs once
// the container's cgroup namespace exists, before capabilities are dropped.
void mount_cgroup_v1_hierarchies(ContainerSpec const& spec, std::span<DetachedMount const> mounts);

}
