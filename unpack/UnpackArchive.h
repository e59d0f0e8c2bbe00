#pragma once

#include <filesystem>
#include <string>

namespace vmm {

// The work of vmm-unpack (see common/ArchiveCache.h): unpacks the archive
// into the calling user's cache unless it is there already, and returns the
// tree's directory. Throws vmm::Error with one line naming the problem.
std::filesystem::path unpack_archive_into_cache(std::string const& archive_path);

}
