#include "container/RootFilesystem.h"

#include "common/Error.h"
#include "container/Devices.h"
#include "container/Mount.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vmm::container {

namespace {

// An ext4 image's mount is attached here, in the container's own mount
// namespace only, just long enough to pivot into it.
constexpr char const* image_staging_directory = "/tmp";

// The OCI runtime-spec's (and runc's) default masked and read-only paths.
constexpr char const* masked_paths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
};

constexpr char const* read_only_paths[] = {
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
};

constexpr auto no_suid_dev_exec = MountAttributes::NoSuid | MountAttributes::NoDev | MountAttributes::NoExec;

void check_has_init(int rootfs_fd, std::string const& display_path)
{
    struct stat status {};
    if (::fstatat(rootfs_fd, "sbin/init", &status, AT_SYMLINK_NOFOLLOW) < 0)
        throw Error(fmt::format("rootfs {} has no /sbin/init", display_path));
}

void mount_proc_and_sys(int rootfs_fd, NetworkMode network, UserNamespace user_namespace)
{
    auto proc_target = open_mount_target(rootfs_fd, "proc", "/proc");
    auto proc = create_mount("proc", "proc", {}, no_suid_dev_exec, "/proc");
    attach_mount(proc.get(), proc_target.get(), "/proc");

    auto sys_target = open_mount_target(rootfs_fd, "sys", "/sys");
    // A new sysfs shows the container's own network namespace. In a user
    // namespace sharing the host's network, the kernel refuses a new sysfs,
    // so the host's is bound read-only instead.
    FileDescriptor sys;
    if (network == NetworkMode::Host && user_namespace == UserNamespace::Yes) {
        sys = clone_mount_tree("/sys");
        set_mount_attributes(sys.get(), MountAttributes::ReadOnly | no_suid_dev_exec, "/sys");
    } else {
        sys = create_mount("sysfs", "sysfs", {}, MountAttributes::ReadOnly | no_suid_dev_exec, "/sys");
    }
    attach_mount(sys.get(), sys_target.get(), "/sys");
}

void pivot_into(int rootfs_fd)
{
    if (::fchdir(rootfs_fd) < 0)
        throw_system_error("fchdir", "(new root)");
    // pivot_root(".", ".") stacks the old root on top of the new one; the
    // lazy unmount then takes it away, with every host mount below it.
    if (::syscall(SYS_pivot_root, ".", ".") < 0)
        throw_system_error("pivot_root", "(new root)");
    if (::umount2(".", MNT_DETACH) < 0)
        throw_system_error("umount", "(old root)");
    if (::chdir("/") < 0)
        throw_system_error("chdir", "/");
}

// Opens a path of the container's /proc or /sys; nullopt if it is absent.
std::optional<FileDescriptor> open_if_present(char const* path, struct stat& status)
{
    FileDescriptor fd(::open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.is_valid()) {
        if (errno == ENOENT)
            return std::nullopt;
        throw_system_error("open", path);
    }
    if (::fstat(fd.get(), &status) < 0)
        throw_system_error("stat", path);
    return fd;
}

void mask_paths()
{
    for (auto const* path : masked_paths) {
        struct stat status {};
        auto target = open_if_present(path, status);
        if (!target)
            continue;
        // Directories are covered by an empty read-only tmpfs, files by /dev/null.
        auto cover = S_ISDIR(status.st_mode)
            ? create_mount("tmpfs", "tmpfs", {}, MountAttributes::ReadOnly | no_suid_dev_exec, path)
            : clone_mount_tree("/dev/null");
        attach_mount(cover.get(), target->get(), path);
    }
}

void make_paths_read_only()
{
    for (auto const* path : read_only_paths) {
        struct stat status {};
        auto target = open_if_present(path, status);
        if (!target)
            continue;
        auto copy = clone_mount_tree(target->get(), "");
        set_mount_attributes(copy.get(), MountAttributes::ReadOnly | no_suid_dev_exec, path);
        attach_mount(copy.get(), target->get(), path);
    }
}

}

RootSource open_root_source(std::string const& path)
{
    RootSource source;
    source.display_path = path;
    struct stat status {};
    if (::stat(path.c_str(), &status) < 0) {
        if (errno == ENOENT)
            throw Error(fmt::format("{}: no such file or directory", path));
        throw_system_error("stat", path);
    }
    if (S_ISDIR(status.st_mode)) {
        char resolved[PATH_MAX];
        if (!::realpath(path.c_str(), resolved))
            throw_system_error("realpath", path);
        source.directory = resolved;
        auto directory = FileDescriptor::open(resolved, O_PATH | O_DIRECTORY);
        check_has_init(directory.get(), path);
        return source;
    }
    if (!S_ISREG(status.st_mode))
        throw Error(fmt::format("{}: neither a directory nor an ext4 image", path));
    if (::geteuid() != 0)
        throw Error(fmt::format("{}: mounting an ext4 image needs root (a rootfs directory does not)", path));
    source.loop_device = LoopDevice::attach(path);
    source.image_mount = create_mount("ext4", source.loop_device->device_path(), {}, MountAttributes::NoDev, path);
    return source;
}

void enter_root_filesystem(RootSource const& source, NetworkMode network, UserNamespace user_namespace)
{
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
        throw_system_error("mount --make-rprivate", "/");

    int rootfs_fd = -1;
    FileDescriptor directory_tree;
    if (source.image_mount.is_valid()) {
        attach_mount(source.image_mount.get(), image_staging_directory);
        rootfs_fd = source.image_mount.get();
        check_has_init(rootfs_fd, source.display_path);
    } else {
        directory_tree = clone_mount_tree(source.directory);
        set_mount_attributes(directory_tree.get(), MountAttributes::NoDev, source.directory);
        attach_mount(directory_tree.get(), source.directory);
        rootfs_fd = directory_tree.get();
    }

    mount_proc_and_sys(rootfs_fd, network, user_namespace);
    populate_dev(rootfs_fd, user_namespace);
    pivot_into(rootfs_fd);
    mask_paths();
    make_paths_read_only();
}

}
