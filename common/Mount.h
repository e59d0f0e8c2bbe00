#pragma once

#include "common/FileDescriptor.h"

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vmm {

// Thin, checked wrappers around the kernel's file-descriptor based mount API
// (fsopen/fsmount/open_tree/move_mount). Mounts are created detached, filled
// or checked, and then attached onto a target that is itself an open file
// descriptor, so no path (and no symlink in it) is resolved at attach time.

using MountOptions = std::vector<std::pair<std::string, std::string>>;

enum class MountAttributes : unsigned {
    None = 0,
    ReadOnly = 1 << 0,
    NoSuid = 1 << 1,
    NoDev = 1 << 2,
    NoExec = 1 << 3,
    NoAtime = 1 << 4,
    StrictAtime = 1 << 5,
    NoDirAtime = 1 << 6,
    NoSymlinkFollow = 1 << 7,
};

constexpr MountAttributes operator|(MountAttributes left, MountAttributes right)
{
    return static_cast<MountAttributes>(static_cast<unsigned>(left) | static_cast<unsigned>(right));
}

// Creates a detached mount of a new `type` file system. `source` (e.g. a
// block device) may be empty. `optional_flags` are flag options that an older
// kernel may not know: the mount goes on without one the kernel refuses.
// Errors name `what` and carry the kernel's message.
FileDescriptor create_mount(std::string_view type, std::string_view source, MountOptions const& options, MountAttributes attributes, std::string_view what,
    std::span<char const* const> optional_flags = {});

enum class CloneDepth {
    Recursive,  // The mount and every mount below it (rbind).
    TopOnly,    // Only the mount at the path (bind).
};

// Clones the mount tree at `path` (recursively) into a detached mount.
FileDescriptor clone_mount_tree(std::string_view path, CloneDepth depth = CloneDepth::Recursive);
FileDescriptor clone_mount_tree(int directory_fd, std::string_view relative_path, CloneDepth depth = CloneDepth::Recursive);

// Sets the propagation (MS_PRIVATE, MS_SHARED, MS_SLAVE or MS_UNBINDABLE)
// of a mount tree, recursively.
void set_mount_propagation(int mount_fd, uint64_t propagation, std::string_view what);

// Changes the attributes of a detached or attached mount tree, recursively.
void set_mount_attributes(int mount_fd, MountAttributes attributes, std::string_view what);

// Makes the detached mount tree `mount_fd` show its files' owners through the
// id maps of the user namespace open as `user_namespace_fd` (an idmapped
// mount): on-disk id N appears as the host id that the namespace's N is.
void set_mount_id_map(int mount_fd, int user_namespace_fd, std::string_view what);

// Attaches the detached mount `mount_fd` onto the open target `target_fd`.
void attach_mount(int mount_fd, int target_fd, std::string_view what);
// Attaches `mount_fd` onto `name` in the directory `directory_fd`, a
// trailing symlink not followed: a directory that this process made in a
// tree of its own, so that no fd need be opened for it.
void attach_mount(int mount_fd, int directory_fd, std::string_view name, std::string_view what);
// Attaches `mount_fd` onto the path `target` (resolved normally).
void attach_mount(int mount_fd, std::string_view target);

// Opens `relative_path` below `root_fd` as an O_PATH descriptor without
// following any symlink (and without leaving `root_fd`); a symlink gives a
// clear error naming the path. `what` is the path as the user sees it.
FileDescriptor open_mount_target(int root_fd, std::string_view relative_path, std::string_view what);

}
