#pragma once

#include "common/FileDescriptor.h"
#include "machine/BootOptions.h"

#include <cstdint>
#include <string>

namespace vmm {

enum class CommandGiven {
    No,  // guest/init starts the tree's shell, which must exist.
    Yes,
};

// The root disk of `vmm boot` as the guest gets it. An ext4 image is used as
// given. A directory, or the tree a tar archive unpacks to (ArchiveCache), is
// made into an ext4 image (mke2fs -d), kept in vmm's cache keyed by the
// tree's listing; the guest then writes to a private
// copy that disappears when vmm exits (an unnamed file), so that the cached
// image, like the user's tree, is never changed.
class RootDisk {
public:
    // Throws an Error, one line naming the problem, for a rootfs vmm cannot boot.
    static RootDisk prepare(DiskOptions const& given, CommandGiven command);

    DiskOptions const& disk() const { return m_disk; }

private:
    DiskOptions m_disk;
    FileDescriptor m_private_copy;
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
std::string cached_tree_image(std::string const& directory);

}
