#include "common/Mount.h"

#include "common/RootTree.h"

#include "common/Error.h"

#include <cerrno>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <string>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vmm {

namespace {

uint64_t to_kernel_attributes(MountAttributes attributes)
{
    auto bits = static_cast<unsigned>(attributes);
    uint64_t result = 0;
    if (bits & static_cast<unsigned>(MountAttributes::ReadOnly))
        result |= MOUNT_ATTR_RDONLY;
    if (bits & static_cast<unsigned>(MountAttributes::NoSuid))
        result |= MOUNT_ATTR_NOSUID;
    if (bits & static_cast<unsigned>(MountAttributes::NoDev))
        result |= MOUNT_ATTR_NODEV;
    if (bits & static_cast<unsigned>(MountAttributes::NoExec))
        result |= MOUNT_ATTR_NOEXEC;
    if (bits & static_cast<unsigned>(MountAttributes::NoAtime))
        result |= MOUNT_ATTR_NOATIME;
    if (bits & static_cast<unsigned>(MountAttributes::StrictAtime))
        result |= MOUNT_ATTR_STRICTATIME;
    if (bits & static_cast<unsigned>(MountAttributes::NoDirAtime))
        result |= MOUNT_ATTR_NODIRATIME;
    if (bits & static_cast<unsigned>(MountAttributes::NoSymlinkFollow))
        result |= MOUNT_ATTR_NOSYMFOLLOW;
    return result;
}

// The kernel explains a failed fsconfig() in messages read from the context fd.
std::string kernel_message(int context_fd)
{
    char buffer[512];
    std::string message;
    for (;;) {
        ssize_t length = ::read(context_fd, buffer, sizeof(buffer) - 1);
        if (length <= 0)
            break;
        buffer[length] = '\0';
        // Each message starts with "e ", "w " or "i ".
        message = std::string(buffer + (length > 2 ? 2 : 0));
    }
    return message;
}

[[noreturn]] void throw_mount_error(std::string_view call, std::string_view what, int context_fd)
{
    int saved_errno = errno;
    auto message = describe_system_error(call, what, saved_errno);
    if (context_fd >= 0) {
        auto detail = kernel_message(context_fd);
        if (!detail.empty())
            message += " (" + detail + ")";
    }
    throw Error(message);
}

}

FileDescriptor create_mount(std::string_view type, std::string_view source, MountOptions const& options, MountAttributes attributes, std::string_view what,
    std::span<char const* const> optional_flags)
{
    std::string const type_string(type);
    FileDescriptor context(fsopen(type_string.c_str(), FSOPEN_CLOEXEC));
    if (!context.is_valid())
        throw_mount_error("fsopen", what, -1);
    if (!source.empty()) {
        std::string const source_string(source);
        if (fsconfig(context.get(), FSCONFIG_SET_STRING, "source", source_string.c_str(), 0) < 0)
            throw_mount_error("mount", what, context.get());
    }
    for (auto const& [key, value] : options) {
        int result = value.empty()
            ? fsconfig(context.get(), FSCONFIG_SET_FLAG, key.c_str(), nullptr, 0)
            : fsconfig(context.get(), FSCONFIG_SET_STRING, key.c_str(), value.c_str(), 0);
        if (result < 0)
            throw_mount_error("mount", what, context.get());
    }
    for (auto const* flag : optional_flags) {
        if (fsconfig(context.get(), FSCONFIG_SET_FLAG, flag, nullptr, 0) < 0) {
            if (errno != EINVAL)
                throw_mount_error("mount", what, context.get());
            (void)kernel_message(context.get()); // The refusal's message is not the mount's.
            spdlog::debug("{}: the kernel has no {} option for {}", what, flag, type);
        }
    }
    if (fsconfig(context.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0)
        throw_mount_error("mount", what, context.get());
    FileDescriptor mount(fsmount(context.get(), FSMOUNT_CLOEXEC, to_kernel_attributes(attributes)));
    if (!mount.is_valid())
        throw_mount_error("fsmount", what, context.get());
    return mount;
}

FileDescriptor clone_mount_tree(int directory_fd, std::string_view relative_path, CloneDepth depth)
{
    std::string const path_string(relative_path);
    unsigned recursive = depth == CloneDepth::Recursive ? AT_RECURSIVE : 0;
    FileDescriptor tree(open_tree(directory_fd, path_string.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | recursive | AT_SYMLINK_NOFOLLOW | (path_string.empty() ? AT_EMPTY_PATH : 0)));
    if (!tree.is_valid())
        throw_system_error("bind mount", relative_path);
    return tree;
}

FileDescriptor clone_mount_tree(std::string_view path, CloneDepth depth)
{
    return clone_mount_tree(AT_FDCWD, path, depth);
}

void set_mount_propagation(int mount_fd, uint64_t propagation, std::string_view what)
{
    mount_attr attribute {};
    attribute.propagation = propagation;
    if (mount_setattr(mount_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attribute, sizeof(attribute)) < 0)
        throw_system_error("mount_setattr (propagation)", what);
}

void set_mount_attributes(int mount_fd, MountAttributes attributes, std::string_view what)
{
    mount_attr attribute {};
    attribute.attr_set = to_kernel_attributes(attributes);
    if (mount_setattr(mount_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attribute, sizeof(attribute)) < 0)
        throw_system_error("mount_setattr", what);
}

void set_mount_id_map(int mount_fd, int user_namespace_fd, std::string_view what)
{
    mount_attr attribute {};
    attribute.attr_set = MOUNT_ATTR_IDMAP;
    attribute.userns_fd = static_cast<uint64_t>(user_namespace_fd);
    if (mount_setattr(mount_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attribute, sizeof(attribute)) < 0)
        throw_system_error("mount_setattr MOUNT_ATTR_IDMAP", what);
}

void attach_mount(int mount_fd, int target_fd, std::string_view what)
{
    if (move_mount(mount_fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        throw_system_error("mount", what);
}

void attach_mount(int mount_fd, int directory_fd, std::string_view name, std::string_view what)
{
    std::string const name_string(name);
    if (move_mount(mount_fd, "", directory_fd, name_string.c_str(), MOVE_MOUNT_F_EMPTY_PATH) < 0)
        throw_system_error("mount", what);
}

void attach_mount(int mount_fd, std::string_view target)
{
    std::string const target_string(target);
    if (move_mount(mount_fd, "", AT_FDCWD, target_string.c_str(), MOVE_MOUNT_F_EMPTY_PATH) < 0)
        throw_system_error("mount", target);
}

FileDescriptor open_mount_target(int root_fd, std::string_view relative_path, std::string_view what)
{
    // Without O_NOFOLLOW a trailing symlink is an error too.
    auto target = open_in_root(root_fd, relative_path, O_PATH, Symlinks::Refuse);
    if (!target.is_valid()) {
        if (errno == ELOOP)
            throw Error(std::string(what) + ": mount target is a symlink (refusing to follow it)");
        throw_system_error("open mount target", what);
    }
    return target;
}

}
