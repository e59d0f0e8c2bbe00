#pragma once

#include "common/FileDescriptor.h"
#include "container/Container.h"
#include "common/LoopDevice.h"
#include "container/ContainerSpec.h"
#include "container/Namespaces.h"
#include "container/SpecMounts.h"

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vmm::container {

// The container's root file system as the parent prepares it: a directory,
// or an ext4 image on a loop device, mounted but not attached anywhere (so
// the host never sees the mount; it goes away with the container).
struct RootSource {
    std::string display_path; // As the user gave it, for messages.
    std::string directory;    // Set for a directory rootfs.
    FileDescriptor directory_tree; // Its id-mapped clone, where ids are mapped.
    // `directory` in the child's mount namespace (open_root_directory()):
    // where its trees are attached, without looking its path up again.
    FileDescriptor directory_target;
    std::string writable_layer;    // The overlay's upper/ and work/ on disk; empty: a tmpfs.
    std::optional<LoopDevice> loop_device;
    FileDescriptor image_mount;
    FileDescriptor overlay_mount; // A directory's overlay, where the parent mounted it (the child's copy gets it).
};

// Checks `path` and prepares it; errors are one line naming the problem
// ("no such file or directory", "not an ext4 image", a tar archive asked to
// be written in place).
// With ImageAccess::ReadOnly an image is attached and mounted read-only,
// shared with its other read-only users.
RootSource open_root_source(std::string const& path, DirectoryWrites writes, ImageAccess access = ImageAccess::ReadWrite);

// Throws, naming what is missing, unless the tree has a shell for a run
// without a command: /bin/sh or /bin/bash, resolved inside the tree.
void check_has_shell(RootSource const& source);

// Mounts the overlay of a directory rootfs (see RootFilesystem.cpp) and
// returns it detached: the child does in its mount namespace, the parent
// (as root, without a user namespace) while the child sets up.
FileDescriptor mount_overlay(RootSource const& source, UserNamespace user_namespace);

// Shows the rootfs's files through the maps of `user_namespace_fd`, so that
// the container's root (an unprivileged host id) owns what host root owns.
void map_root_ids(RootSource& source, int user_namespace_fd);

// Runs in the child before it changes its credentials: opens the directory
// rootfs's `directory_target`, whose path the user namespace's root (an
// unprivileged host id, with --rootless as root) may not be allowed to
// traverse (the archive cache's trees/, 0700; a tree under /root).
void open_root_directory(RootSource& source);

// Runs in the container's new mount namespace, first: makes / private (or
// as rootfsPropagation says) and makes the spec's mounts, not attached
// anywhere yet. They need nothing of the root: a parent mounting the root's
// overlay meanwhile finishes it.
std::vector<DetachedMount> make_container_mounts(ContainerSpec const& spec, UserNamespace user_namespace);

// Then: mounts the rootfs (the bundle's root.path, or the layered `source`),
// attaches the spec's `mounts` and makes the devices in it (targets opened
// inside the root), runs `before_pivot` (the createContainer hooks), pivots
// into it, detaches the old root, writes the sysctls, masks and
// write-protects the spec's paths and makes the root read-only if asked.
void enter_root_filesystem(RootSource const& source, ContainerSpec const& spec, std::span<DetachedMount const> mounts, UserNamespace user_namespace,
    std::function<void()> const& before_pivot);

}
