#pragma once

#include "common/FileDescriptor.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace vmm {

// A root filesystem tree as both products see it: how a user's ROOTFS is
// given, and how paths inside it are opened without reaching the host.

enum class RootKind {
    Directory,
    Ext4Image,
    Archive, // A tar archive (docker/podman export), run as the tree it unpacks to.
};

// What `path` holds, or an Error of one line naming the problem ("no such
// file or directory", "neither a directory, an ext4 image nor a tar archive").
RootKind classify_root(std::string const& path);

enum class Symlinks {
    ResolveInTree, // Symlinks, absolute ones too, resolve inside the tree, as a chrooted process sees them.
    Refuse,        // Any symlink on the path is an error (ELOOP), and so is leaving the tree's mount.
};

// The one openat2(RESOLVE_IN_ROOT) of the project: opens `path` below
// `root_fd` (O_CLOEXEC added) and never resolves anything outside the tree.
// Returns an invalid descriptor with errno set on failure.
FileDescriptor open_in_root(int root_fd, std::string_view path, uint64_t flags, Symlinks symlinks);

// Throws, naming what is missing, unless the tree has a shell for a run
// without a command: /bin/sh or /bin/bash (the same list as guest/init's),
// resolved inside the tree. `display_path` is the rootfs as the user gave it.
void check_tree_has_shell(int root_fd, std::string_view display_path);

}
