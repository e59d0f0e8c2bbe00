#include "vmm/machine/BootOptions.h"

#include "common/Error.h"

namespace vmm {

DiskOptions parse_disk_option(std::string const& text)
{
    DiskOptions disk;
    auto const comma = text.find(',');
    disk.path = text.substr(0, comma);
    if (disk.path.empty())
        throw Error("--disk: '" + text + "' names no image");
    if (comma == std::string::npos)
        return disk;
    std::string const flags = text.substr(comma + 1);
    if (flags == "ro")
        disk.access = DiskAccess::ReadOnly;
    else if (flags != "rw")
        throw Error("--disk: unknown option '" + flags + "' in '" + text + "' (known: ro, rw)");
    return disk;
}

}
