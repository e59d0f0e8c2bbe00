#pragma once

#include "common/FileDescriptor.h"
#include "vmm/machine/BootOptions.h"

#include <cstdint>
#include <string>

namespace vmm {

enum class CommandGiven {
    No,  // guest/init starts the tree's shell, which must exist.
    Yes,
};

// How the guest's private copy of a tree's image is kept.
enum class PrivateCopy {
    // An unnamed file (O_TMPFILE) reached through /proc/self/fd: nothing is
    // left behind, whatever ends vmm, and nothing is removed once vmm is
    // confined (its seccomp filter has no unlink).
    Unnamed,
    // A file in the cache that --jail can bind into the jail, removed by the
    // (unconfined) vmm that waits for the jailed one, or swept by a later run.
    Named,
};

// The root disk of `vmm boot` as the guest gets it. An ext4 image is used as
// given. A directory, or the tree a tar archive unpacks to (ArchiveCache), is
// made into an ext4 image (mke2fs -d), kept in vmm's cache keyed by the
// tree's listing; the guest then writes to a private copy that is removed
// when vmm exits, so that the cached image, like the user's tree, is never
// changed.
class RootDisk {
public:
    // Throws an Error, one line naming the problem, for a rootfs vmm cannot boot.
    static RootDisk prepare(DiskOptions const& given, CommandGiven command, PrivateCopy copy_kind);

    RootDisk(RootDisk&& other) noexcept;
    RootDisk(RootDisk const&) = delete;
    RootDisk& operator=(RootDisk const&) = delete;
    RootDisk& operator=(RootDisk&&) = delete;
    ~RootDisk();

    DiskOptions const& disk() const { return m_disk; }

    // In a forked child that outlives its parent's use of the copy, or is
    // confined: the parent removes the named copy, the child never does.
    void leave_private_copy_to_parent() { m_private_path.clear(); }

private:
    RootDisk() = default;

    DiskOptions m_disk;
    FileDescriptor m_private_copy; // Holds the lock that keeps the copy from a sweep.
    std::string m_private_path;    // Removed by the destructor.
};

// Where vmm keeps the ext4 images it makes: $VMM_CACHE_DIR (for tests), else
// images/ in the archive cache (/var/cache/vmm for root, else
// $XDG_CACHE_HOME/vmm or ~/.cache/vmm). Created when missing.
std::string vmm_cache_directory();

// A key for the tree at `directory` made from its listing: every entry's
// relative path, type, mode, owner, size, modification time and symlink
// target. Changing any file's metadata changes the key.
std::string tree_listing_key(std::string const& directory);

// The ext4 image of `directory`, made once into the cache (under a lock,
// through a ".partial" file renamed when complete) and found there after.
// Each call also removes what killed runs left in the cache: ".partial"
// files and private copies whose owner is gone.
std::string cached_tree_image(std::string const& directory);

}
