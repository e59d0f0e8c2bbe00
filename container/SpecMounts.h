#pragma once

#include "common/FileDescriptor.h"
#include "common/Mount.h"
#include "common/cgroup/CgroupV1.h"
#include "container/ContainerSpec.h"
#include "container/Namespaces.h"

#include <string>
#include <string_view>
#include <sys/stat.h>

namespace vmm::container {

// An OCI mount's options split the way the kernel takes them: attribute
// flags, bind (and whether recursive), propagation, and the rest as file
// system parameters ("mode=755", "newinstance").
struct ParsedMountOptions {
    MountAttributes attributes { MountAttributes::None };
    bool bind { false };
    CloneDepth bind_depth { CloneDepth::TopOnly };
    uint64_t propagation { 0 }; // MS_PRIVATE, ...; 0: unchanged.
    MountOptions parameters;
    std::vector<std::string> ignored; // Understood but without effect here (warned about).
};

// Throws for an option that is not understood only where it would change
// security ("idmap"); see the .cpp for the tables.
ParsedMountOptions parse_mount_options(MountSpec const& mount);

// The propagation flag of "private", "rshared", ... (0 for anything else).
uint64_t propagation_flag(std::string_view name);

// Opens (making what is missing: directories, and the last component as a
// directory or, for `TargetKind::File`, an empty file) the mount target
// `path` inside the root open as `root_fd`. Symlinks resolve inside the root
// or, with MountTargetSymlinks::Refuse, are an error naming the path.
enum class TargetKind {
    Directory,
    File,
};
FileDescriptor make_mount_target(int root_fd, std::string_view path, TargetKind kind, MountTargetSymlinks symlinks);

// A spec mount made but not attached anywhere yet.
struct DetachedMount {
    FileDescriptor tree;
    TargetKind kind { TargetKind::Directory };
    // A v1 host's /sys/fs/cgroup (container/CgroupView.h): the hierarchies
    // to mount into it once the container's cgroup namespace exists, or,
    // without one, the binds of the container's cgroup in each.
    std::vector<CgroupV1Hierarchy> cgroup_hierarchies {};
    std::vector<std::pair<std::string, FileDescriptor>> cgroup_binds {};
};

// Makes `mount` (a bind: a clone of its source, a host path) without
// attaching it. The container's mounts are all made before its root is
// attached over host paths (an image over /tmp, an overlay over the rootfs
// directory) that a bind source may lie below, so that the source is the
// host's directory, not the root's. A "cgroup" mount goes to
// make_cgroup_view() (container/CgroupView.h) first.
DetachedMount make_detached_mount(MountSpec const& mount, UserNamespace user_namespace);

// The container's root while its mounts are attached: its fd, and its
// identity, taken once, which no mount but the root's own may land on.
class MountRoot {
public:
    explicit MountRoot(int fd);
    int fd() const { return m_fd; }
    bool is_root(struct stat const& status) const;

private:
    int m_fd { -1 };
    dev_t m_device { 0 };
    ino_t m_inode { 0 };
};

// Attaches `detached` at `mount`'s destination inside `root` (the target
// made as make_mount_target() does).
void attach_into_root(MountRoot const& root, MountSpec const& mount, DetachedMount const& detached, MountTargetSymlinks symlinks);

}
