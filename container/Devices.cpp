#include "container/Devices.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "common/Mount.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <string>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace vmm::container {

namespace {

struct DeviceNode {
    char const* name;
    unsigned major;
    unsigned minor;
};

constexpr DeviceNode device_nodes[] = {
    { "null", 1, 3 },
    { "zero", 1, 5 },
    { "full", 1, 7 },
    { "random", 1, 8 },
    { "urandom", 1, 9 },
    { "tty", 5, 0 },
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
    { "ptmx", "pts/ptmx" },
};

constexpr auto no_suid_dev_exec = MountAttributes::NoSuid | MountAttributes::NoDev | MountAttributes::NoExec;

void add_device(int dev_fd, DeviceNode const& node, UserNamespace user_namespace)
{
    auto path = fmt::format("/dev/{}", node.name);
    if (user_namespace == UserNamespace::No) {
        if (::mknodat(dev_fd, node.name, S_IFCHR | 0666, makedev(node.major, node.minor)) < 0)
            throw_system_error("mknod", path);
        return;
    }
    FileDescriptor placeholder(::openat(dev_fd, node.name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666));
    if (!placeholder.is_valid())
        throw_system_error("create", path);
    auto host_node = clone_mount_tree(path);
    attach_mount(host_node.get(), placeholder.get(), path);
}

FileDescriptor make_directory(int dev_fd, char const* name, mode_t mode)
{
    auto path = fmt::format("/dev/{}", name);
    if (::mkdirat(dev_fd, name, mode) < 0)
        throw_system_error("mkdir", path);
    FileDescriptor directory(::openat(dev_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!directory.is_valid())
        throw_system_error("open", path);
    return directory;
}

}

void populate_dev(int rootfs_fd, UserNamespace user_namespace)
{
    auto target = open_mount_target(rootfs_fd, "dev", "/dev");
    auto dev = create_mount("tmpfs", "tmpfs", { { "mode", "755" }, { "size", "65536k" } }, MountAttributes::NoSuid | MountAttributes::NoExec, "/dev");
    attach_mount(dev.get(), target.get(), "/dev");

    for (auto const& node : device_nodes)
        add_device(dev.get(), node, user_namespace);

    auto pts = make_directory(dev.get(), "pts", 0755);
    MountOptions pts_options { { "newinstance", "" }, { "ptmxmode", "0666" }, { "mode", "0620" } };
    // Group tty (5) exists only where the host's group 5 is mapped.
    if (user_namespace == UserNamespace::No)
        pts_options.emplace_back("gid", "5");
    auto devpts = create_mount("devpts", "devpts", pts_options, MountAttributes::NoSuid | MountAttributes::NoExec, "/dev/pts");
    attach_mount(devpts.get(), pts.get(), "/dev/pts");

    auto shm = make_directory(dev.get(), "shm", 01777);
    auto shm_mount = create_mount("tmpfs", "shm", { { "mode", "1777" }, { "size", "65536k" } }, no_suid_dev_exec, "/dev/shm");
    attach_mount(shm_mount.get(), shm.get(), "/dev/shm");

    auto mqueue = make_directory(dev.get(), "mqueue", 0755);
    auto mqueue_mount = create_mount("mqueue", "mqueue", {}, no_suid_dev_exec, "/dev/mqueue");
    attach_mount(mqueue_mount.get(), mqueue.get(), "/dev/mqueue");

    for (auto const& link : links) {
        if (::symlinkat(link.target, dev.get(), link.name) < 0)
            throw_system_error("symlink", fmt::format("/dev/{}", link.name));
    }
}

}
