#include "container/Devices.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "common/Mount.h"
#include "container/SpecMounts.h"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <string>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

void add_device(int rootfs_fd, DeviceNodeSpec const& node, UserNamespace user_namespace, Existing existing)
{
    auto const& path = node.path;
    auto slash = path.rfind('/');
    auto parent = make_mount_target(rootfs_fd, path.substr(0, slash), TargetKind::Directory, MountTargetSymlinks::FollowInsideRoot);
    FileDescriptor directory(::openat(parent.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory.is_valid())
        throw_system_error("open", path.substr(0, slash));
    auto name = path.substr(slash + 1);
    struct stat status {};
    if (::fstatat(directory.get(), name.c_str(), &status, AT_SYMLINK_NOFOLLOW) == 0) {
        if (existing == Existing::Keep)
            return;
        if (::unlinkat(directory.get(), name.c_str(), 0) < 0)
            throw_system_error("unlink", path);
    }
    mode_t type = node.type == 'b' ? S_IFBLK : node.type == 'p' ? S_IFIFO : S_IFCHR;
    if (user_namespace == UserNamespace::No || node.type == 'p') {
        if (::mknodat(directory.get(), name.c_str(), type | (node.file_mode & 07777), makedev(node.major, node.minor)) < 0)
            throw_system_error("mknod", path);
        if (::fchownat(directory.get(), name.c_str(), node.uid, node.gid, AT_SYMLINK_NOFOLLOW) < 0)
            throw_system_error("chown", path);
        // mknod's mode goes through the umask, which is 0 here; this keeps it exact.
        if (::fchmodat(directory.get(), name.c_str(), node.file_mode & 07777, 0) < 0)
            throw_system_error("chmod", path);
        return;
    }
    FileDescriptor placeholder(::openat(directory.get(), name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666));
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

}

void create_devices(int rootfs_fd, ContainerSpec const& spec, UserNamespace user_namespace)
{
    if (spec.default_devices) {
        for (auto const& node : default_nodes)
            add_device(rootfs_fd, node, user_namespace, Existing::Keep);
    }
    for (auto const& node : spec.devices)
        add_device(rootfs_fd, node, user_namespace, Existing::Replace);
    auto dev = make_mount_target(rootfs_fd, "/dev", TargetKind::Directory, MountTargetSymlinks::FollowInsideRoot);
    FileDescriptor directory(::openat(dev.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory.is_valid())
        throw_system_error("open", "/dev");
    // /dev/ptmx is the container's own devpts instance's.
    if (has_mount(spec, "/dev/pts")) {
        ::unlinkat(directory.get(), "ptmx", 0);
        if (::symlinkat("pts/ptmx", directory.get(), "ptmx") < 0)
            throw_system_error("symlink", "/dev/ptmx");
    }
    for (auto const& link : links) {
        if (::symlinkat(link.target, directory.get(), link.name) < 0 && errno != EEXIST)
            throw_system_error("symlink", fmt::format("/dev/{}", link.name));
    }
}

}
