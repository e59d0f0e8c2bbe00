#include "common/ImageLock.h"

#include "common/Error.h"

#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm {

namespace {

// An OFD lock does not record its owner's PID (F_OFD_GETLK answers -1), so
// the holder is found the way lsof would: a process with the image open
// whose fdinfo lists a lock on it. Only on the error path.
std::optional<pid_t> find_lock_holder(int fd)
{
    struct stat image {};
    if (::fstat(fd, &image) < 0)
        return std::nullopt;
    std::error_code error;
    for (auto const& process : std::filesystem::directory_iterator("/proc", error)) {
        auto name = process.path().filename().string();
        pid_t pid = 0;
        auto [end, parse_error] = std::from_chars(name.data(), name.data() + name.size(), pid);
        if (parse_error != std::errc() || end != name.data() + name.size() || pid == ::getpid())
            continue;
        std::error_code fd_error;
        for (auto const& open_file : std::filesystem::directory_iterator(process.path() / "fd", fd_error)) {
            struct stat status {};
            if (::stat(open_file.path().c_str(), &status) < 0 || status.st_dev != image.st_dev || status.st_ino != image.st_ino)
                continue;
            std::ifstream info(process.path() / "fdinfo" / open_file.path().filename());
            std::string line;
            while (std::getline(info, line)) {
                if (line.starts_with("lock:"))
                    return pid;
            }
        }
    }
    return std::nullopt;
}

// A loop device the host set up on the image (mount -o loop, losetup)
// takes no lock: it is found through sysfs, where each loop device names
// its backing file. A read-only one conflicts only with a writer.
std::optional<std::string> find_conflicting_loop_device(int fd, ImageLockKind kind)
{
    struct stat image {};
    if (::fstat(fd, &image) < 0 || !S_ISREG(image.st_mode))
        return std::nullopt;
    std::error_code error;
    for (auto const& device : std::filesystem::directory_iterator("/sys/block", error)) {
        auto const name = device.path().filename().string();
        std::ifstream backing_file(device.path() / "loop" / "backing_file");
        std::string backing_path;
        if (!name.starts_with("loop") || !std::getline(backing_file, backing_path))
            continue;
        struct stat backing {};
        if (::stat(backing_path.c_str(), &backing) < 0 || backing.st_dev != image.st_dev || backing.st_ino != image.st_ino)
            continue;
        int read_only = 0;
        std::ifstream(device.path() / "ro") >> read_only;
        if (kind == ImageLockKind::Shared && read_only == 1)
            continue;
        return "/dev/" + name;
    }
    return std::nullopt;
}

}

void lock_image(int fd, std::string_view path, ImageLockKind kind)
{
    struct flock lock {};
    lock.l_type = kind == ImageLockKind::Exclusive ? F_WRLCK : F_RDLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = 0;
    lock.l_len = 0; // The whole file, however it grows.
    if (fcntl(fd, F_OFD_SETLK, &lock) == 0) {
        if (auto device = find_conflicting_loop_device(fd, kind)) {
            throw Error(fmt::format("disk image {} is in use by {}, a loop device set up outside vmm{} (is it mounted? detach it first)", path, *device,
                kind == ImageLockKind::Exclusive ? "" : " for writing"));
        }
        return;
    }
    if (errno == EAGAIN || errno == EACCES) {
        auto holder = find_lock_holder(fd);
        throw Error(fmt::format("disk image {} is in use by {} ({})", path,
            holder ? fmt::format("PID {}", *holder) : std::string("another VM or container"),
            kind == ImageLockKind::Exclusive ? "stop it first; VMs and containers can share an image read-only with PATH,ro" : "it has the image open read-write"));
    }
    throw_system_error("fcntl F_OFD_SETLK", path);
}

FileDescriptor open_disk_image(std::string_view path, int flags)
{
    auto image = open_without_waiting(std::string(path), flags);
    if (!image.is_valid())
        throw_system_error("open", path);
    struct stat status {};
    if (::fstat(image.get(), &status) != 0)
        throw_system_error("fstat", path);
    if (!S_ISREG(status.st_mode) && !S_ISBLK(status.st_mode))
        throw Error(fmt::format("disk image {}: not a regular file or block device", path));
    // A block device takes no file lock from the kernel's own users: one
    // that is mounted (or opened exclusively by another program) refuses an
    // exclusive open with EBUSY, which a writer asks for. The device already
    // open is opened again, not the path, which could name something else
    // by now (a FIFO, whose open would wait).
    if (S_ISBLK(status.st_mode) && (flags & O_ACCMODE) == O_RDWR) {
        auto const opened = fmt::format("/proc/self/fd/{}", image.get());
        FileDescriptor exclusive(::open(opened.c_str(), flags | O_EXCL | O_CLOEXEC));
        if (!exclusive.is_valid() && errno == EBUSY)
            throw Error(fmt::format("disk image {} is in use: the block device is mounted or held by another program", path));
        if (!exclusive.is_valid())
            throw_system_error("open", path);
        return exclusive;
    }
    return image;
}

}
