#include "common/FileDescriptor.h"

#include "common/Error.h"

#include <cerrno>
#include <fcntl.h>
#include <string>

namespace vmm {

FileDescriptor FileDescriptor::open(std::string_view path, int flags, int mode)
{
    std::string const path_string(path);
    int fd = ::open(path_string.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0)
        throw_system_error("open", path);
    return FileDescriptor(fd);
}

bool write_all(int fd, void const* data, size_t size)
{
    auto const* cursor = static_cast<char const*>(data);
    while (size > 0) {
        ssize_t written = ::write(fd, cursor, size);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        cursor += written;
        size -= static_cast<size_t>(written);
    }
    return true;
}

}
