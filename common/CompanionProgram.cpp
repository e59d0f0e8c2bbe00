#include "common/CompanionProgram.h"

#include "common/Error.h"

#include <climits>
#include <unistd.h>

namespace vmm {

std::string companion_program_path(std::string_view name)
{
    char self[PATH_MAX] {};
    ssize_t length = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (length <= 0)
        throw_system_error("readlink", "/proc/self/exe");
    auto path = std::string(self, static_cast<size_t>(length));
    path.erase(path.rfind('/') + 1);
    path += name;
    return path;
}

}
