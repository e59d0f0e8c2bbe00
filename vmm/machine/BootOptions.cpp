#include "vmm/machine/BootOptions.h"

#include "common/Error.h"

#include <fmt/format.h>
#include <sys/stat.h>

namespace vmm {

DiskOptions parse_disk_option(std::string const& text, std::string_view option)
{
    // The access is what follows the last comma, so that a path may hold
    // commas: "a,b,ro" is a,b read-only. A path that exists as given, commas
    // and all, is taken whole unless it ends in a known access.
    DiskOptions disk { .path = text };
    auto const comma = text.rfind(',');
    if (comma != std::string::npos) {
        std::string const flags = text.substr(comma + 1);
        struct stat status {};
        if (flags == "ro" || flags == "rw") {
            disk.path = text.substr(0, comma);
            disk.access = flags == "ro" ? DiskAccess::ReadOnly : DiskAccess::ReadWrite;
        } else if (::lstat(text.c_str(), &status) < 0) {
            throw UsageError(fmt::format("{}: unknown option '{}' in '{}' (known: ro, rw)", option, flags, text));
        }
    }
    if (disk.path.empty())
        throw UsageError(fmt::format("{}: '{}' names no image", option, text));
    return disk;
}

}
