#pragma once

#include <filesystem>
#include <string>

namespace vmm {

// Whether the file open as `fd` looks like a root filesystem archive: a tar
// (as `docker export` and `podman export` write) or a gzip, xz, zstd or
// bzip2 stream; vmm-unpack then reads it for real.
bool is_archive(int fd);

// The directory a root filesystem archive unpacks to (by vmm-unpack, the
// program next to vmm that links libarchive), made once per archive
// content: CACHE/trees/SHA256 where CACHE is /var/cache/vmm for root and
// $XDG_CACHE_HOME/vmm (or ~/.cache/vmm) otherwise. Unpacking goes into a
// private .partial directory that is renamed when complete, under the cache's lock
// (CACHE/trees/.lock), so concurrent runs unpack it once and no half-unpacked
// tree is ever used.
// Entries that would land outside the tree (absolute paths, "..", paths
// through symlinks) refuse the whole archive with one line naming the entry;
// device nodes are skipped (the runtime makes /dev). Throws vmm::Error.
std::filesystem::path unpacked_archive(std::string const& archive_path);

// The cache directory of unpacked_archive() for the calling user.
std::filesystem::path archive_cache_directory();

}
