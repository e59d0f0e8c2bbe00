#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unistd.h>
#include <utility>
#include <vector>

namespace vmm {

// Owns one file descriptor and closes it when it goes out of scope.
class FileDescriptor {
public:
    FileDescriptor() = default;
    explicit FileDescriptor(int fd)
        : m_fd(fd)
    {
    }
    FileDescriptor(FileDescriptor&& other) noexcept
        : m_fd(std::exchange(other.m_fd, -1))
    {
    }
    FileDescriptor& operator=(FileDescriptor&& other) noexcept
    {
        if (this != &other)
            reset(std::exchange(other.m_fd, -1));
        return *this;
    }
    FileDescriptor(FileDescriptor const&) = delete;
    FileDescriptor& operator=(FileDescriptor const&) = delete;
    ~FileDescriptor() { reset(); }

    // Opens `path` with `flags` (O_CLOEXEC is always added) or throws an Error naming it.
    static FileDescriptor open(std::string_view path, int flags, int mode = 0);

    int get() const { return m_fd; }
    bool is_valid() const { return m_fd >= 0; }
    void reset(int fd = -1)
    {
        if (m_fd >= 0)
            ::close(m_fd);
        m_fd = fd;
    }

private:
    int m_fd { -1 };
};

// open(2) for a file given by a user, which may be anything: it never waits
// in open() (a FIFO without a writer would block there forever) nor makes a
// terminal the controlling one. The file is opened with O_NONBLOCK and
// O_NOCTTY added, and O_NONBLOCK is cleared again once it is open, so that
// reads of the regular file or block device the caller checks for with
// fstat block as usual. Returns an invalid descriptor, with errno set, when
// either call fails.
FileDescriptor open_without_waiting(std::string const& path, int flags);

// Writes all of `size` bytes, retrying on EINTR and short writes. Returns false on error.
bool write_all(int fd, void const* data, size_t size);

// Reads `fd` until end of file (retrying on EINTR); an error ends it too.
std::string read_all(int fd);

// Reads the whole regular file at `path`. Errors name `what` and the path:
// "kernel /x: No such file or directory", "initrd /y: not a regular file",
// "kernel /z: 300000000 bytes is more than the 268435456 allowed".
std::vector<uint8_t> read_file(std::string const& path, std::string_view what, uint64_t size_limit = UINT64_MAX);

// Writes `bytes` to `path` through a temporary file beside it that is renamed
// over `path` once complete, so that a failure never leaves a half-written
// file. Errors name `what` and the path.
void write_file_atomically(std::string const& path, std::span<uint8_t const> bytes, std::string_view what);

}
