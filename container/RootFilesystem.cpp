#include "container/RootFilesystem.h"

#include "common/Error.h"
#include "common/RootTree.h"
#include "container/CgroupView.h"
#include "container/Devices.h"
#include "common/Mount.h"
#include "container/SpecMounts.h"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <fmt/format.h>
#include <span>
#include <sstream>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vmm::container {

namespace {

// An ext4 image's mount is attached here, in the container's own mount
// namespace only, just long enough to pivot into it.
constexpr char const* image_staging_directory = "/tmp";

constexpr auto no_suid_dev_exec = MountAttributes::NoSuid | MountAttributes::NoDev | MountAttributes::NoExec;

// Overlay option values are separated by ',' and ':', escaped with '\\'.
std::string overlay_path(std::string_view path)
{
    std::string escaped;
    for (char character : path) {
        if (character == ',' || character == ':' || character == '\\')
            escaped += '\\';
        escaped += character;
    }
    return escaped;
}

// The directory itself as the container's root, as `bwrap --bind` and runc
// show it (--root-writes in-place): no overlay to mount and unmount,
// but the container's writes change the user's tree, and a setuid file its
// root writes there is one for the host's users too. Hence not the default.
// Attaches `tree` over the directory rootfs, on top of what is mounted there.
void attach_over_directory(int tree, RootSource const& source)
{
    if (source.directory_target.is_valid())
        attach_mount(tree, source.directory_target.get(), source.directory);
    else
        attach_mount(tree, source.directory);
}

// A new fd of the mount `tree` (attached: its fd stays valid and is the root).
FileDescriptor reopen_mount_root(int tree, std::string const& what)
{
    FileDescriptor root(::openat(tree, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root.is_valid())
        throw_system_error("open", what);
    return root;
}

FileDescriptor bind_directory_in_place(RootSource const& source)
{
    auto const& directory = source.directory;
    // An id-mapped tree (see map_root_ids()) is the directory already.
    FileDescriptor clone;
    if (!source.directory_tree.is_valid())
        clone = clone_mount_tree(directory, CloneDepth::Recursive);
    int const tree = source.directory_tree.is_valid() ? source.directory_tree.get() : clone.get();
    set_mount_attributes(tree, MountAttributes::NoSuid | MountAttributes::NoDev, directory);
    attach_over_directory(tree, source);
    return reopen_mount_root(tree, directory);
}

// net.ipv4.ip_forward is /proc/sys/net/ipv4/ip_forward (a key may use '/' too).
void write_sysctl(std::string const& key, std::string const& value)
{
    if (key.find("..") != std::string::npos)
        throw Error(fmt::format("sysctl {}: not a sysctl name", key));
    auto path = "/proc/sys/" + key;
    for (size_t index = std::string("/proc/sys/").size(); index < path.size(); ++index) {
        if (path[index] == '.')
            path[index] = '/';
    }
    FileDescriptor file(::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!file.is_valid())
        throw_system_error("open", fmt::format("sysctl {} ({})", key, path));
    if (!write_all(file.get(), value.data(), value.size()))
        throw_system_error("write", fmt::format("sysctl {}={}", key, value));
}

// Whether this mount namespace's / is the kernel's initial ramfs (the
// initramfs root that switch_root leaves behind, and pivot_root refuses).
bool is_initial_ramfs_root()
{
    std::ifstream mountinfo("/proc/self/mountinfo");
    std::string line;
    while (std::getline(mountinfo, line)) {
        // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - TYPE SOURCE ..."
        std::istringstream fields(line);
        std::string id, parent, device, root, mount_point;
        fields >> id >> parent >> device >> root >> mount_point;
        if (mount_point != "/")
            continue;
        auto const separator = line.find(" - ");
        return separator != std::string::npos && line.compare(separator + 3, 7, "rootfs ") == 0;
    }
    return false;
}

void pivot_into(int rootfs_fd)
{
    if (::fchdir(rootfs_fd) < 0)
        throw_system_error("fchdir", "(new root)");
    // pivot_root(".", ".") stacks the old root on top of the new one; the
    // lazy unmount then takes it away, with every host mount below it.
    if (::syscall(SYS_pivot_root, ".", ".") < 0) {
        // The kernel's initial root (an initramfs) cannot be pivoted away
        // from. Moving the new root over it and chrooting, as runc's
        // --no-pivot does, would leave the host's tree reachable from a
        // chroot escape, so vmm refuses with the way out instead.
        if (errno == EINVAL && is_initial_ramfs_root())
            throw Error("pivot_root: the host's / is its initramfs (rootfs), which a container cannot be pivoted away from; "
                        "run vmm where / is a mounted file system (e.g. after switch_root onto a tmpfs)");
        throw_system_error("pivot_root", "(new root)");
    }
    if (::umount2(".", MNT_DETACH) < 0)
        throw_system_error("umount", "(old root)");
    if (::chdir("/") < 0)
        throw_system_error("chdir", "/");
}

// Opens a path of the container's /proc or /sys; nullopt if it is absent.
std::optional<FileDescriptor> open_if_present(std::string const& path, struct stat& status)
{
    FileDescriptor fd(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.is_valid()) {
        if (errno == ENOENT)
            return std::nullopt;
        throw_system_error("open", path);
    }
    if (::fstat(fd.get(), &status) < 0)
        throw_system_error("stat", path);
    return fd;
}

// `null_device` is a clone of the host's /dev/null, taken before the pivot:
// the container's own may be missing (a --volume at /dev has what it has).
void mask_paths(std::vector<std::string> const& paths, FileDescriptor null_device)
{
    // Directories are covered by an empty read-only tmpfs, files by /dev/null.
    // One tmpfs serves every directory: the first is covered by a new one and
    // the rest by binds of it, which saves a superblock's set-up and teardown
    // per directory (empty and read-only, it carries nothing between them).
    // The binds are cloned from the attached mount, since a kernel before 6.15
    // cannot clone a detached one; so are those of /dev/null.
    std::optional<std::string> empty_directory;
    std::optional<std::string> null_file;
    for (auto const& path : paths) {
        struct stat status {};
        auto target = open_if_present(path, status);
        if (!target)
            continue;
        FileDescriptor cover;
        if (!S_ISDIR(status.st_mode) && null_file)
            cover = clone_mount_tree(*null_file, CloneDepth::TopOnly);
        else if (!S_ISDIR(status.st_mode))
            cover = std::move(null_device);
        else if (empty_directory)
            cover = clone_mount_tree(*empty_directory, CloneDepth::TopOnly);
        else
            cover = create_mount("tmpfs", "tmpfs", {}, MountAttributes::ReadOnly | no_suid_dev_exec, path);
        attach_mount(cover.get(), target->get(), path);
        if (S_ISDIR(status.st_mode) && !empty_directory)
            empty_directory = path;
        if (!S_ISDIR(status.st_mode) && !null_file)
            null_file = path;
    }
}

void make_paths_read_only(std::vector<std::string> const& paths)
{
    for (auto const& path : paths) {
        struct stat status {};
        auto target = open_if_present(path, status);
        if (!target)
            continue;
        auto copy = clone_mount_tree(target->get(), "", CloneDepth::Recursive);
        set_mount_attributes(copy.get(), MountAttributes::ReadOnly | no_suid_dev_exec, path);
        attach_mount(copy.get(), target->get(), path);
    }
}

enum class TreeWrites {
    Layered, // They go to the container's writable layer.
    InPlace, // They change the image itself.
};

// rootfsPropagation's flag; private where the spec names none.
uint64_t root_propagation(ContainerSpec const& spec)
{
    return spec.rootfs_propagation.empty() ? uint64_t(MS_PRIVATE) : propagation_flag(spec.rootfs_propagation);
}

// "shared" and "unbindable" are set once the container's root is made:
// before, the first would reach the host, and the second would refuse the
// root's and the binds' clones and the masks' /dev/null binds.
bool set_after_setup(uint64_t propagation)
{
    return propagation == MS_SHARED || propagation == MS_UNBINDABLE;
}

// Bridge mode: the host's resolver configuration, read-only, so that names
// resolve through the NAT. A tree whose /etc/resolv.conf is a symlink
// (systemd's stub, for one) manages the file itself and keeps it; an image
// without the file is not given one, which would change the image.
void show_resolver_configuration(MountRoot const& root, std::string const& host_file, TreeWrites writes, UserNamespace user_namespace)
{
    auto existing = open_in_root(root.fd(), "etc/resolv.conf", O_PATH | O_CLOEXEC, Symlinks::Refuse);
    if (!existing.is_valid() && (errno == ELOOP || (errno == ENOENT && writes == TreeWrites::InPlace)))
        return;
    MountSpec mount { "/etc/resolv.conf", "bind", host_file, { "bind", "ro", "nosuid", "nodev", "noexec" } };
    attach_into_root(root, mount, make_detached_mount(mount, user_namespace), MountTargetSymlinks::Refuse);
}

}

// The container's view of a directory rootfs: the user's tree as the lower
// layer of an overlay whose upper layer is the container's own (its
// WritableLayer, or a tmpfs). Whatever the container writes (a setuid copy,
// a file capability, a device node) lives there and goes with it, so the
// tree on the host is never written: nothing made inside can give a host
// user privileges, and the same tree can serve several containers at once.
FileDescriptor mount_overlay(RootSource const& source, UserNamespace user_namespace)
{
    auto const& directory = source.directory;
    // An id-mapped tree can be a layer only once it is attached in this
    // mount namespace (overlayfs clones its layers' mounts): over the
    // directory itself, where nothing else sees it.
    // Through fds only: the user namespace's root may not be allowed to
    // look the directory's path up (open_root_directory()).
    FileDescriptor lower;
    if (source.directory_tree.is_valid()) {
        attach_over_directory(source.directory_tree.get(), source);
        lower = reopen_mount_root(source.directory_tree.get(), directory);
    } else if (source.directory_target.is_valid()) {
        lower = reopen_mount_root(source.directory_target.get(), directory);
    } else {
        lower = FileDescriptor::open(directory, O_PATH | O_DIRECTORY);
    }
    FileDescriptor writes;
    if (!source.writable_layer.empty()) {
        writes = FileDescriptor::open(source.writable_layer, O_PATH | O_DIRECTORY);
    } else {
        // An unprivileged caller has no writable layer on disk: a tmpfs of
        // this mount namespace takes the writes. Kernels before 6.15 take
        // overlay layers only from mounts of the caller's namespace, so it
        // goes over the directory, whose open fd still reaches the tree.
        writes = create_mount("tmpfs", "vmm-writes", { { "mode", "755" } }, MountAttributes::NoSuid | MountAttributes::NoDev, "(the container's writes)");
        attach_mount(writes.get(), lower.get(), "(the container's writes)");
        for (auto const* name : { "upper", "work" }) {
            if (::mkdirat(writes.get(), name, 0755) < 0)
                throw_system_error("mkdir", fmt::format("(the container's writes)/{}", name));
        }
    }
    // The root directory of the overlay takes its mode from the upper one.
    // A pooled layer's usually has it already: then nothing is written (a
    // chmod is an inode update on the host's disk).
    struct stat lower_status {};
    if (::fstat(lower.get(), &lower_status) < 0)
        throw_system_error("stat", directory);
    FileDescriptor upper(::openat(writes.get(), "upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct stat upper_status {};
    if (!upper.is_valid() || ::fstat(upper.get(), &upper_status) < 0)
        throw_system_error("open", "(the container's writes)/upper");
    if ((upper_status.st_mode & 07777) != (lower_status.st_mode & 07777) && ::fchmod(upper.get(), lower_status.st_mode & 07777) < 0)
        throw_system_error("chmod", "(the container's writes)/upper");

    // The layers are named through this process's fds, so no host path is
    // looked up again (and a tmpfs staging mount cannot hide one).
    auto layer = [](int fd, char const* name) { return fmt::format("/proc/self/fd/{}{}", fd, name); };
    MountOptions options {
        { "lowerdir", overlay_path(layer(lower.get(), "")) },
        { "upperdir", overlay_path(layer(writes.get(), "/upper")) },
        { "workdir", overlay_path(layer(writes.get(), "/work")) },
    };
    // In a user namespace the overlay keeps its whiteouts and opaque marks
    // in user.* extended attributes; trusted.* ones need the host's root.
    if (user_namespace == UserNamespace::Yes)
        options.emplace_back("userxattr", "");
    // The layer on disk is removed when the container ends, so nothing in it
    // has to survive a crash: volatile makes fsync and syncfs in it return at
    // once, as podman does for --rm containers and CRI-O for all. Without it
    // the overlay's unmount syncs the whole host file system under the layer,
    // so that a container's exit waits for every dirty page on the host's
    // disk (0.35 s with 1 GiB of another program's writes pending, against
    // 16 ms). Durable data belongs in a volume (--volume). Linux 5.10 has it.
    std::array<char const*, 1> const volatile_flag { "volatile" };
    std::span<char const* const> optional_flags;
    if (!source.writable_layer.empty())
        optional_flags = volatile_flag;
    try {
        return create_mount("overlay", "vmm-rootfs", options, MountAttributes::NoSuid | MountAttributes::NoDev, directory, optional_flags);
    } catch (Error const&) {
        // The kernel stacks file systems two deep: a tree on an overlay
        // that is itself on one takes no third (a bare EINVAL; the reason
        // goes to the kernel log only).
        struct statfs lower_file_system {};
        if (::fstatfs(lower.get(), &lower_file_system) == 0 && lower_file_system.f_type == OVERLAYFS_SUPER_MAGIC)
            throw Error(fmt::format("{}: the tree is on an overlay file system, which takes no overlay of the container's over it here "
                                    "(the kernel stacks two deep): copy the tree, or run with --root-writes in-place (the container then writes to it)",
                directory));
        throw;
    }
}

std::vector<DetachedMount> make_container_mounts(ContainerSpec const& spec, UserNamespace user_namespace)
{
    // Nothing of the container's reaches the host's mounts (or, for
    // "rslave", the other way round but not back).
    uint64_t const propagation = root_propagation(spec);
    if (::mount(nullptr, "/", nullptr, MS_REC | (set_after_setup(propagation) ? uint64_t(MS_PRIVATE) : propagation), nullptr) < 0)
        throw_system_error("mount --make-rprivate", "/");
    std::vector<DetachedMount> mounts;
    for (auto const& mount : spec.mounts) {
        auto cgroup_view = make_cgroup_view(spec, mount);
        mounts.push_back(cgroup_view ? std::move(*cgroup_view) : make_detached_mount(mount, user_namespace));
    }
    return mounts;
}

void enter_root_filesystem(RootSource const& source, ContainerSpec const& spec, std::span<DetachedMount const> mounts, UserNamespace user_namespace,
    std::function<void()> const& before_pivot)
{
    int rootfs_fd = -1;
    FileDescriptor directory_tree;
    if (spec.root_setup == RootSetup::Bundle) {
        // root.path itself, bound over itself so that it is a mount to pivot into.
        directory_tree = clone_mount_tree(spec.root_path, CloneDepth::Recursive);
        attach_mount(directory_tree.get(), spec.root_path);
        directory_tree = FileDescriptor::open(spec.root_path, O_PATH | O_DIRECTORY);
        rootfs_fd = directory_tree.get();
    } else if (source.image_mount.is_valid()) {
        attach_mount(source.image_mount.get(), image_staging_directory);
        rootfs_fd = source.image_mount.get();
    } else if (source.overlay_mount.is_valid()) {
        attach_over_directory(source.overlay_mount.get(), source);
        rootfs_fd = source.overlay_mount.get();
    } else if (spec.directory_writes == DirectoryWrites::InPlace) {
        directory_tree = bind_directory_in_place(source);
        rootfs_fd = directory_tree.get();
    } else {
        directory_tree = mount_overlay(source, user_namespace);
        attach_over_directory(directory_tree.get(), source);
        rootfs_fd = directory_tree.get();
    }

    MountRoot const root(rootfs_fd);
    for (size_t index = 0; index < mounts.size(); ++index)
        attach_into_root(root, spec.mounts[index], mounts[index], spec.mount_target_symlinks);
    attach_cgroup_v1_binds(spec, mounts);
    if (!spec.resolver_configuration.empty())
        show_resolver_configuration(root, spec.resolver_configuration,
            source.image_mount.is_valid() || spec.directory_writes == DirectoryWrites::InPlace ? TreeWrites::InPlace : TreeWrites::Layered, user_namespace);
    create_devices(rootfs_fd, spec, user_namespace);
    if (before_pivot)
        before_pivot();
    FileDescriptor null_device;
    if (!spec.masked_paths.empty())
        null_device = clone_mount_tree("/dev/null", CloneDepth::TopOnly);
    pivot_into(rootfs_fd);
    for (auto const& [key, value] : spec.sysctl)
        write_sysctl(key, value);
    mask_paths(spec.masked_paths, std::move(null_device));
    make_paths_read_only(spec.readonly_paths);
    if (spec.root_readonly) {
        mount_attr attribute {};
        attribute.attr_set = MOUNT_ATTR_RDONLY;
        if (::mount_setattr(AT_FDCWD, "/", 0, &attribute, sizeof(attribute)) < 0)
            throw_system_error("mount_setattr MOUNT_ATTR_RDONLY", "/ (root.readonly)");
    }
    uint64_t const propagation = root_propagation(spec);
    if (set_after_setup(propagation)) {
        if (::mount(nullptr, "/", nullptr, MS_REC | propagation, nullptr) < 0)
            throw_system_error("mount (rootfsPropagation)", spec.rootfs_propagation);
    }
}

}
