#include "vmm/machine/BootOptions.h"

#include "common/Error.h"

#include <fmt/format.h>

namespace vmm {

DiskOptions parse_disk_option(std::string const& text, std::string_view option)
{
    DiskOptions disk;
    auto const comma = text.find(',');
    disk.path = text.substr(0, comma);
    if (disk.path.empty())
        throw UsageError(fmt::format("{}: '{}' names no image", option, text));
    if (comma == std::string::npos)
        return disk;
    std::string const flags = text.substr(comma + 1);
    if (flags == "ro")
        disk.access = DiskAccess::ReadOnly;
    else if (flags != "rw")
        throw UsageError(fmt::format("{}: unknown option '{}' in '{}' (known: ro, rw)", option, flags, text));
    return disk;
}

}
