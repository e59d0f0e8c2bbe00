#pragma once

#include <string_view>

namespace vmm {

enum class ImageLockKind {
    Shared,    // Read-only users: any number may hold it, but no writer.
    Exclusive, // One read-write user and nobody else.
};

// Locks the whole image open on `fd` with an open file description lock
// (F_OFD_SETLK): the VMM's disks and the container runtime's ext4 images use
// the same lock, so two of them never open one image read-write at once.
// The lock lasts until the last descriptor of that open file is closed.
// Throws an Error naming `path` when someone else holds a conflicting lock.
void lock_image(int fd, std::string_view path, ImageLockKind kind);

}
