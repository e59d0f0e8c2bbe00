#pragma once

#include <filesystem>
#include <string>

namespace vmm {

// The SHA-256 of the archive open as `fd`, which names its tree in the
// cache. Hashing a large archive on every start costs (about 0.5 s for
// 200 MB), so the digest is remembered in `trees`/.digests under the file's
// identity: device, inode, size, and modification and change times in
// nanoseconds. A write to the archive changes its change time, and a
// replaced file is another inode or has another change time, so a memo is
// never taken for content it was not made from; a file changed in the last
// second or two gets none yet. Memos of trees that are gone are removed.
std::string archive_digest(int fd, std::string const& archive_path, std::filesystem::path const& trees);

}
