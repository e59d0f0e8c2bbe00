#pragma once

#include "common/cgroup/Cgroup.h"
#include "oci/State.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vmm::oci {

// A container's cgroup as the OCI commands see it. Without
// linux.cgroupsPath a container gets vmm-oci/ID, which vmm makes and
// removes; a cgroupsPath that exists already is joined as runc joins it
// and is left in place at delete. A cgroup that holds processes is never
// joined: they are another container's or program's. Each command finds
// the cgroup by its path and checks it by its directory's inode, so that a
// cgroup of the same name made since (another --root's container of the
// same id) is never signalled, frozen or removed for this container.

// The cgroup's name: linux.cgroupsPath, or vmm-oci/ID without one.
std::string cgroup_path_for(std::string const& configured, std::string const& id);

// Where the container's cgroup path came from.
enum class CgroupPathSource {
    Default,    // vmm-oci/ID: vmm's own, made anew where a killed runtime left it.
    Configured, // linux.cgroupsPath: the caller's, joined where it exists.
};

// Before create: the cgroup's directories that exist already and are to be
// joined (none: it is made, and so is ours to remove). An Error names the
// cgroup where it holds processes.
std::vector<std::string> prepare_container_cgroup(std::string const& cgroups_path, CgroupPathSource source);

// The inode of the cgroup's directory (v1: its first hierarchy's): 0 if
// it is gone.
uint64_t cgroup_identity(std::string const& cgroups_path);

// The container's cgroup: nullptr if it has none, it is gone, or the
// cgroup of that name now is another one.
std::unique_ptr<Cgroup> open_container_cgroup(ContainerRecord const& record);

// At delete (and when create fails after its cgroup was made): kills what
// is left in the container's cgroup, removes the directories of it that
// create made, then vmm-oci/ once no container's cgroup is left in it.
void remove_container_cgroup(ContainerRecord const& record);

// Removes vmm-oci/ if `cgroups_path` is in it and it is empty: one rmdir,
// no wait, when it still has other containers' cgroups.
void remove_default_parent_if_empty(std::string const& cgroups_path);

}
