#include "common/RootTree.h"

#include "common/ArchiveCache.h"
#include "common/Error.h"
#include "common/LoopDevice.h"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

namespace vmm {

namespace {

// The shells that run when no command is given, in the order tried.
constexpr char const* shells[] = { "bin/sh", "bin/bash" };

}

RootKind classify_root(std::string const& path)
{
    struct stat status {};
    if (::stat(path.c_str(), &status) < 0) {
        if (errno == ENOENT)
            throw Error(fmt::format("{}: no such file or directory", path));
        throw_system_error("stat", path);
    }
    if (S_ISDIR(status.st_mode))
        return RootKind::Directory;
    if (!S_ISREG(status.st_mode))
        throw Error(fmt::format("{}: neither a directory, an ext4 image nor a tar archive", path));
    auto file = FileDescriptor::open(path, O_RDONLY);
    if (is_ext4_image(file.get()))
        return RootKind::Ext4Image;
    if (is_archive(file.get()))
        return RootKind::Archive;
    throw Error(fmt::format("{}: neither an ext4 image nor a tar archive", path));
}

FileDescriptor open_in_root(int root_fd, std::string_view path, uint64_t flags, Symlinks symlinks)
{
    std::string const path_string(path);
    open_how how {};
    how.flags = flags | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    if (symlinks == Symlinks::Refuse)
        how.resolve |= RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV;
    return FileDescriptor(static_cast<int>(::syscall(SYS_openat2, root_fd, path_string.c_str(), &how, sizeof(how))));
}

void check_tree_has_shell(int root_fd, std::string_view display_path)
{
    std::string problem;
    for (auto const* shell : shells) {
        auto program = open_in_root(root_fd, shell, O_PATH, Symlinks::ResolveInTree);
        struct stat status {};
        if (program.is_valid() && ::fstat(program.get(), &status) == 0 && S_ISREG(status.st_mode) && (status.st_mode & 0111))
            return;
        if (problem.empty() && ::fstatat(root_fd, shell, &status, AT_SYMLINK_NOFOLLOW) == 0)
            problem = S_ISLNK(status.st_mode) ? fmt::format(" (/{} is a dangling symlink)", shell) : fmt::format(" (/{} is not an executable file)", shell);
    }
    throw Error(fmt::format("rootfs {} has no shell to start (/bin/sh or /bin/bash){}: give a command after --", display_path, problem));
}

}
