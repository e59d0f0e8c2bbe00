#include "container/SpecMounts.h"

#include "common/Error.h"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vmm::container {

namespace {

struct AttributeOption {
    char const* name;
    MountAttributes set;
    MountAttributes clear; // Options like "rw" or "suid" clear an attribute.
};

constexpr AttributeOption attribute_options[] = {
    { "ro", MountAttributes::ReadOnly, MountAttributes::None },
    { "rw", MountAttributes::None, MountAttributes::ReadOnly },
    { "nosuid", MountAttributes::NoSuid, MountAttributes::None },
    { "suid", MountAttributes::None, MountAttributes::NoSuid },
    { "nodev", MountAttributes::NoDev, MountAttributes::None },
    { "dev", MountAttributes::None, MountAttributes::NoDev },
    { "noexec", MountAttributes::NoExec, MountAttributes::None },
    { "exec", MountAttributes::None, MountAttributes::NoExec },
    { "noatime", MountAttributes::NoAtime, MountAttributes::StrictAtime },
    { "strictatime", MountAttributes::StrictAtime, MountAttributes::NoAtime },
    { "relatime", MountAttributes::None, MountAttributes::NoAtime | MountAttributes::StrictAtime },
    { "atime", MountAttributes::None, MountAttributes::NoAtime },
    { "nodiratime", MountAttributes::NoDirAtime, MountAttributes::None },
    { "diratime", MountAttributes::None, MountAttributes::NoDirAtime },
    { "nosymfollow", MountAttributes::NoSymlinkFollow, MountAttributes::None },
    { "symfollow", MountAttributes::None, MountAttributes::NoSymlinkFollow },
};

// Options that fstab and the runtimes know and that change nothing here.
constexpr char const* no_effect_options[] = { "defaults", "async", "sync", "dirsync", "remount", "tmpcopyup", "mand", "nomand", "loud", "silent", "lazytime", "nolazytime", "auto", "noauto", "user", "nouser" };

MountAttributes with(MountAttributes attributes, MountAttributes set, MountAttributes clear)
{
    return static_cast<MountAttributes>((static_cast<unsigned>(attributes) & ~static_cast<unsigned>(clear)) | static_cast<unsigned>(set));
}

bool is_bind_type(MountSpec const& mount)
{
    return mount.type == "bind" || mount.type == "rbind";
}

}

uint64_t propagation_flag(std::string_view name)
{
    if (name == "private" || name == "rprivate")
        return MS_PRIVATE;
    if (name == "shared" || name == "rshared")
        return MS_SHARED;
    if (name == "slave" || name == "rslave")
        return MS_SLAVE;
    if (name == "unbindable" || name == "runbindable")
        return MS_UNBINDABLE;
    return 0;
}

ParsedMountOptions parse_mount_options(MountSpec const& mount)
{
    ParsedMountOptions parsed;
    parsed.bind = is_bind_type(mount);
    if (mount.type == "rbind")
        parsed.bind_depth = CloneDepth::Recursive;
    for (auto const& option : mount.options) {
        bool handled = false;
        for (auto const& attribute : attribute_options) {
            if (option == attribute.name) {
                parsed.attributes = with(parsed.attributes, attribute.set, attribute.clear);
                handled = true;
            }
        }
        if (handled)
            continue;
        if (option == "bind" || option == "rbind") {
            parsed.bind = true;
            if (option == "rbind")
                parsed.bind_depth = CloneDepth::Recursive;
            continue;
        }
        if (auto flag = propagation_flag(option)) {
            parsed.propagation = flag;
            continue;
        }
        if (option == "idmap" || option == "ridmap")
            throw Error(fmt::format("mount {}: option '{}' (idmapped mounts from the config) is not supported", mount.destination, option));
        bool no_effect = false;
        for (auto const* name : no_effect_options)
            no_effect |= option == name;
        if (no_effect) {
            parsed.ignored.push_back(option);
            continue;
        }
        if (parsed.bind) {
            // A bind mount takes no file system parameters.
            parsed.ignored.push_back(option);
            continue;
        }
        auto equals = option.find('=');
        if (equals == std::string::npos)
            parsed.parameters.emplace_back(option, "");
        else
            parsed.parameters.emplace_back(option.substr(0, equals), option.substr(equals + 1));
    }
    return parsed;
}

FileDescriptor make_mount_target(int root_fd, std::string_view path, TargetKind kind, MountTargetSymlinks symlinks)
{
    std::string relative(path);
    while (!relative.empty() && relative.front() == '/')
        relative.erase(0, 1);
    if (relative.empty())
        return FileDescriptor(::fcntl(root_fd, F_DUPFD_CLOEXEC, 3));

    uint64_t const resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | (symlinks == MountTargetSymlinks::Refuse ? RESOLVE_NO_SYMLINKS : 0);
    auto open_in_root = [&](std::string const& name) {
        open_how how {};
        how.flags = O_PATH | O_CLOEXEC;
        how.resolve = resolve;
        return FileDescriptor(static_cast<int>(::syscall(SYS_openat2, root_fd, name.c_str(), &how, sizeof(how))));
    };

    // Most targets exist (a tree's /proc, /dev, /sys): one openat2 then.
    // Otherwise the parent is opened (or made) the same way, and the missing
    // component is made in it, inside the root: a refused symlink is found
    // on the way up, the one nearest the root named.
    auto open_or_make = [&](auto const& self, std::string const& prefix, bool last) -> FileDescriptor {
        auto fd = open_in_root(prefix);
        if (fd.is_valid())
            return fd;
        int const error = errno;
        if (error != ENOENT && error != ELOOP)
            throw_system_error("open mount target", path);
        auto const parent_slash = prefix.rfind('/');
        FileDescriptor parent;
        if (parent_slash != std::string::npos)
            parent = self(self, prefix.substr(0, parent_slash), false);
        int const parent_fd = parent.is_valid() ? parent.get() : root_fd;
        if (error == ELOOP && last)
            throw Error(fmt::format("{}: mount target is a symlink (refusing to follow it)", path));
        if (error == ELOOP)
            throw Error(fmt::format("{}: /{} on the way is a symlink (refusing to follow it to a mount target)", path, prefix));
        auto const name = parent_slash == std::string::npos ? prefix : prefix.substr(parent_slash + 1);
        if (last && kind == TargetKind::File) {
            FileDescriptor file(::openat(parent_fd, name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
            if (!file.is_valid() && errno != EEXIST)
                throw_system_error("create mount target", path);
        } else if (::mkdirat(parent_fd, name.c_str(), 0755) < 0 && errno != EEXIST) {
            throw_system_error("mkdir mount target", path);
        }
        fd = open_in_root(prefix);
        if (!fd.is_valid())
            throw_system_error("open mount target", path);
        return fd;
    };
    return open_or_make(open_or_make, relative, true);
}

namespace {

// A bind mount's source as a detached mount tree.
FileDescriptor clone_bind_source(MountSpec const& mount)
{
    auto options = parse_mount_options(mount);
    if (!options.bind)
        return {};
    if (::access(mount.source.c_str(), F_OK) < 0)
        throw_system_error("bind mount source", mount.source);
    return clone_mount_tree(mount.source, options.bind_depth);
}

}

DetachedMount make_detached_mount(MountSpec const& mount, UserNamespace user_namespace)
{
    auto options = parse_mount_options(mount);
    for (auto const& option : options.ignored)
        spdlog::debug("mount {}: option '{}' has no effect", mount.destination, option);
    auto const& what = mount.destination;

    FileDescriptor detached;
    auto kind = TargetKind::Directory;
    if (options.bind) {
        detached = clone_bind_source(mount);
        struct stat status {};
        if (::fstat(detached.get(), &status) < 0)
            throw_system_error("stat bind mount source", mount.source);
        if (!S_ISDIR(status.st_mode))
            kind = TargetKind::File;
        if (options.attributes != MountAttributes::None)
            set_mount_attributes(detached.get(), options.attributes, what);
    } else if (mount.type == "sysfs" || mount.type == "cgroup" || mount.type == "cgroup2") {
        auto const type = mount.type == "cgroup" ? std::string("cgroup2") : mount.type;
        try {
            // The host's cgroup2 as the container's cgroup namespace shows it.
            // A "cgroup" mount comes here only on a v2 host: make_cgroup_view()
            // makes v1's, and the bind of a v2 container's own cgroup where
            // it has no namespace of its own.
            detached = create_mount(type, mount.source.empty() ? type : mount.source, options.parameters, options.attributes, what);
        } catch (Error const&) {
            // In a user namespace that does not own the network namespace, the
            // kernel refuses a new sysfs (and cgroup2 without a cgroup
            // namespace): the host's tree is bound instead, as runc does.
            auto host = mount.type == "sysfs" ? "/sys" : "/sys/fs/cgroup";
            detached = clone_mount_tree(host, CloneDepth::Recursive);
            set_mount_attributes(detached.get(), options.attributes, what);
        }
    } else {
        auto parameters = options.parameters;
        // Group tty (5) exists only where the namespace maps it.
        if (mount.type == "devpts" && user_namespace == UserNamespace::Yes) {
            std::erase_if(parameters, [](auto const& parameter) { return parameter.first == "gid"; });
        }
        detached = create_mount(mount.type, mount.source.empty() ? mount.type : mount.source, parameters, options.attributes, what);
    }
    if (options.propagation)
        set_mount_propagation(detached.get(), options.propagation, what);
    return { std::move(detached), kind };
}

MountRoot::MountRoot(int fd)
    : m_fd(fd)
{
    struct stat status {};
    if (::fstat(fd, &status) < 0)
        throw_system_error("stat", "(the container's root)");
    m_device = status.st_dev;
    m_inode = status.st_ino;
}

bool MountRoot::is_root(struct stat const& status) const
{
    return status.st_dev == m_device && status.st_ino == m_inode;
}

void attach_into_root(MountRoot const& root, MountSpec const& mount, DetachedMount const& detached, MountTargetSymlinks symlinks)
{
    // proc and sysfs go on a real directory, never through a symlink, as
    // runc requires: a /proc that points at / would put an unmasked procfs
    // where maskedPaths and readonlyPaths do not look.
    bool const kernel_interface = mount.type == "proc" || mount.type == "sysfs";
    auto target = make_mount_target(root.fd(), mount.destination, detached.kind, kernel_interface ? MountTargetSymlinks::Refuse : symlinks);
    struct stat status {};
    if (::fstat(target.get(), &status) < 0)
        throw_system_error("stat mount target", mount.destination);
    // Nothing but the root's own entry mounts over the root: through a
    // symlink to /, a mount would hide the root and everything set up in it.
    if (mount.destination.find_first_not_of('/') != std::string::npos && root.is_root(status))
        throw Error(fmt::format("mount {}: the target is the container's root itself (through a symlink)", mount.destination));
    // The kernel's answer to a file over a directory (or the reverse) is a
    // bare EINVAL: said here in words.
    bool const bind = parse_mount_options(mount).bind;
    if (detached.kind == TargetKind::File && S_ISDIR(status.st_mode))
        throw Error(fmt::format("mount {}: {} is a file, which cannot be bound over a directory", mount.destination, mount.source));
    if (detached.kind == TargetKind::Directory && !S_ISDIR(status.st_mode)) {
        throw Error(bind ? fmt::format("mount {}: {} is a directory, which cannot be bound over a file", mount.destination, mount.source)
                         : fmt::format("mount {}: a {} file system cannot be mounted over a file", mount.destination, mount.type));
    }
    attach_mount(detached.tree.get(), target.get(), mount.destination);
}

}
