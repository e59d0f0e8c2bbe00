// vmm-unpack ARCHIVE: unpacks a root filesystem archive into vmm's cache and
// prints the tree's directory. A program of its own, run by vmm only when it
// is given an archive, so that vmm itself does not load libarchive, its
// compression libraries and libcrypto on every start.

#include "common/Error.h"
#include "unpack/UnpackArchive.h"

#include <cstdio>
#include <exception>

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: vmm-unpack ARCHIVE\n");
        return 2;
    }
    try {
        std::printf("%s\n", vmm::unpack_archive_into_cache(argv[1]).c_str());
        return 0;
    } catch (std::exception const& error) {
        std::fprintf(stderr, "%s\n", error.what());
        return 1;
    }
}
