#include "container/Devices.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "common/Mount.h"
#include "container/SpecMounts.h"

#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <string>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace vmm::container {

namespace {

DeviceNodeSpec const default_nodes[] = {
    { "/dev/null", 'c', 1, 3, 0666, 0, 0 },
    { "/dev/zero", 'c', 1, 5, 0666, 0, 0 },
    { "/dev/full", 'c', 1, 7, 0666, 0, 0 },
    { "/dev/random", 'c', 1, 8, 0666, 0, 0 },
    { "/dev/urandom", 'c', 1, 9, 0666, 0, 0 },
    { "/dev/tty", 'c', 5, 0, 0666, 0, 0 },
};

struct Link {
    char const* name;
    char const* target;
};

constexpr Link links[] = {
    { "fd", "/proc/self/fd" },
    { "stdin", "/proc/self/fd/0" },
    { "stdout", "/proc/self/fd/1" },
    { "stderr", "/proc/self/fd/2" },
};

enum class Existing {
    Keep,    // A default device the tree (or a bind of the host's /dev) has already.
    Replace, // A device of the spec: made as the spec says.
};

// A directory that device nodes are made in, opened in the root.
struct NodeDirectory {
    FileDescriptor fd;
    // mknod's mode goes through the umask, which is 0 here, and through a
    // default ACL of the directory: without one (a fresh /dev tmpfs) the
    // mode is exact, and no chmod per node is needed.
    bool has_default_acl { true };
};

NodeDirectory open_directory(int rootfs_fd, std::string const& path)
{
    auto target = make_mount_target(rootfs_fd, path, TargetKind::Directory, MountTargetSymlinks::FollowInsideRoot);
    NodeDirectory directory { FileDescriptor(::openat(target.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) };
    if (!directory.fd.is_valid())
        throw_system_error("open", path);
    if (::fgetxattr(directory.fd.get(), "system.posix_acl_default", nullptr, 0) < 0 && (errno == ENODATA || errno == EOPNOTSUPP))
        directory.has_default_acl = false;
    return directory;
}

// Whom mknod makes a node's owner: this process, asked once.
struct Owner {
    uid_t uid { ::geteuid() };
    gid_t gid { ::getegid() };
};

// Makes node.path as `name` in `directory` (its parent, opened in the root).
void add_device(NodeDirectory const& node_directory, std::string const& name, DeviceNodeSpec const& node, Owner const& owner, UserNamespace user_namespace, Existing existing)
{
    int const directory = node_directory.fd.get();
    auto const& path = node.path;
    mode_t type = node.type == 'b' ? S_IFBLK : node.type == 'p' ? S_IFIFO : S_IFCHR;
    if (user_namespace == UserNamespace::No || node.type == 'p') {
        auto make = [&] { return ::mknodat(directory, name.c_str(), type | (node.file_mode & 07777), makedev(node.major, node.minor)) == 0; };
        if (!make()) {
            if (errno != EEXIST)
                throw_system_error("mknod", path);
            if (existing == Existing::Keep)
                return;
            if (::unlinkat(directory, name.c_str(), 0) < 0)
                throw_system_error("unlink", path);
            if (!make())
                throw_system_error("mknod", path);
        }
        // mknod made it this process's (root's, for the default nodes).
        bool const owner_changed = node.uid != owner.uid || node.gid != owner.gid;
        if (owner_changed && ::fchownat(directory, name.c_str(), node.uid, node.gid, AT_SYMLINK_NOFOLLOW) < 0)
            throw_system_error("chown", path);
        // A chown clears the set-id bits the mode may have: it is set again.
        if ((node_directory.has_default_acl || owner_changed) && ::fchmodat(directory, name.c_str(), node.file_mode & 07777, 0) < 0)
            throw_system_error("chmod", path);
        return;
    }
    struct stat status {};
    if (::fstatat(directory, name.c_str(), &status, AT_SYMLINK_NOFOLLOW) == 0) {
        if (existing == Existing::Keep)
            return;
        if (::unlinkat(directory, name.c_str(), 0) < 0)
            throw_system_error("unlink", path);
    }
    FileDescriptor placeholder(::openat(directory, name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666));
    if (!placeholder.is_valid())
        throw_system_error("create", path);
    auto host_node = clone_mount_tree(path, CloneDepth::TopOnly);
    attach_mount(host_node.get(), placeholder.get(), path);
}

bool has_mount(ContainerSpec const& spec, std::string_view destination)
{
    for (auto const& mount : spec.mounts) {
        if (mount.destination == destination)
            return true;
    }
    return false;
}

// Whether a bind mount (a --volume, an OCI "bind") covers /dev: a host
// directory, which no node or link may be written into.
bool binds_dev(ContainerSpec const& spec)
{
    for (auto const& mount : spec.mounts) {
        auto const destination = std::filesystem::path(mount.destination).lexically_normal();
        if ((destination == "/dev" || destination == "/dev/") && parse_mount_options(mount).bind)
            return true;
    }
    return false;
}

}

void create_devices(int rootfs_fd, ContainerSpec const& spec, UserNamespace user_namespace)
{
    // The container gets what the bound directory has, as runc does.
    if (binds_dev(spec))
        return;
    // /dev is opened once for the default nodes and links.
    auto const directory = open_directory(rootfs_fd, "/dev");
    Owner const owner;
    if (spec.default_devices) {
        for (auto const& node : default_nodes)
            add_device(directory, node.path.substr(std::string_view("/dev/").size()), node, owner, user_namespace, Existing::Keep);
    }
    for (auto const& node : spec.devices) {
        auto const slash = node.path.rfind('/');
        auto const parent = open_directory(rootfs_fd, node.path.substr(0, slash));
        add_device(parent, node.path.substr(slash + 1), node, owner, user_namespace, Existing::Replace);
    }
    // /dev/ptmx is the container's own devpts instance's: whatever the tree
    // has there is replaced.
    if (has_mount(spec, "/dev/pts")) {
        bool linked = ::symlinkat("pts/ptmx", directory.fd.get(), "ptmx") == 0;
        if (!linked && errno == EEXIST && ::unlinkat(directory.fd.get(), "ptmx", 0) == 0)
            linked = ::symlinkat("pts/ptmx", directory.fd.get(), "ptmx") == 0;
        if (!linked)
            throw_system_error("symlink", "/dev/ptmx");
    }
    for (auto const& link : links) {
        if (::symlinkat(link.target, directory.fd.get(), link.name) < 0 && errno != EEXIST)
            throw_system_error("symlink", fmt::format("/dev/{}", link.name));
    }
}

}
