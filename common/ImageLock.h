#pragma once

#include "common/FileDescriptor.h"

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

// Opens the disk image a user named, with `flags` (O_RDONLY or O_RDWR),
// without ever waiting in open() (open_without_waiting()), and throws
// "disk image PATH: not a regular file or block device" for anything else:
// a FIFO would block every read, a character device has no size. A block
// device is opened exclusively (O_EXCL) for writing: one that is mounted is
// refused as in use.
FileDescriptor open_disk_image(std::string_view path, int flags);

}
