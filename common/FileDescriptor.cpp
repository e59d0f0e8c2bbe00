#include "common/FileDescriptor.h"

#include "common/Error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
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

FileDescriptor open_without_waiting(std::string const& path, int flags)
{
    FileDescriptor file(::open(path.c_str(), flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!file.is_valid() || (flags & O_NONBLOCK))
        return file;
    int const status_flags = ::fcntl(file.get(), F_GETFL);
    if (status_flags < 0 || ::fcntl(file.get(), F_SETFL, status_flags & ~O_NONBLOCK) < 0) {
        int const error = errno;
        file.reset();
        errno = error;
    }
    return file;
}

std::string read_all(int fd)
{
    std::string text;
    char buffer[4096];
    for (;;) {
        ssize_t length = ::read(fd, buffer, sizeof(buffer));
        if (length < 0 && errno == EINTR)
            continue;
        if (length <= 0)
            return text;
        text.append(buffer, static_cast<size_t>(length));
    }
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

std::vector<uint8_t> read_file(std::string const& path, std::string_view what, uint64_t size_limit)
{
    // The type is checked before anything is read: a FIFO, a terminal or a
    // device would block the read, or never end it.
    auto file = open_without_waiting(path, O_RDONLY);
    if (!file.is_valid())
        throw Error(describe_system_error(what, path, errno));
    struct stat status {};
    if (fstat(file.get(), &status) != 0)
        throw_system_error("fstat", path);
    if (!S_ISREG(status.st_mode))
        throw Error(fmt::format("{} {}: not a regular file", what, path));
    if (static_cast<uint64_t>(status.st_size) > size_limit)
        throw Error(fmt::format("{} {}: {} bytes is more than the {} allowed", what, path, status.st_size, size_limit));
    std::vector<uint8_t> bytes(static_cast<size_t>(status.st_size));
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t got = ::read(file.get(), bytes.data() + done, bytes.size() - done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            throw Error(fmt::format("{} {}: {}", what, path, got == 0 ? "the file shrank while being read" : std::strerror(errno)));
        done += static_cast<size_t>(got);
    }
    return bytes;
}

void write_file_atomically(std::string const& path, std::span<uint8_t const> bytes, std::string_view what)
{
    std::string const temporary = fmt::format("{}.partial-{}", path, ::getpid());
    int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        throw Error(describe_system_error(what, path, errno));
    FileDescriptor file(fd);
    if (!write_all(file.get(), bytes.data(), bytes.size()) || ::fsync(file.get()) != 0) {
        int const error = errno;
        ::unlink(temporary.c_str());
        throw Error(describe_system_error(what, path, error));
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        int const error = errno;
        ::unlink(temporary.c_str());
        throw Error(describe_system_error(what, path, error));
    }
}

}
