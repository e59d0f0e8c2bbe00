#include "common/ArchiveCache.h"

#include "common/CompanionProgram.h"
#include "common/Error.h"
#include "common/FileDescriptor.h"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vmm {

namespace {

struct Signature {
    off_t offset;
    std::string_view bytes;
};

// A tar (ustar and GNU tar write "ustar" at 257), or a compressed stream
// that vmm-unpack will look into: gzip, xz, zstd, bzip2.
constexpr std::array signatures {
    Signature { 257, "ustar" },
    Signature { 0, "\x1f\x8b" },
    Signature { 0, std::string_view("\xfd" "7zXZ\0", 6) },
    Signature { 0, "\x28\xb5\x2f\xfd" },
    Signature { 0, "BZh" },
};

std::string trimmed(std::string text)
{
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text;
}

}

bool is_archive(int fd)
{
    for (auto const& signature : signatures) {
        char bytes[8] {};
        ssize_t length = ::pread(fd, bytes, signature.bytes.size(), signature.offset);
        if (length == static_cast<ssize_t>(signature.bytes.size()) && std::memcmp(bytes, signature.bytes.data(), signature.bytes.size()) == 0)
            return true;
    }
    return false;
}

std::filesystem::path archive_cache_directory()
{
    if (::geteuid() == 0)
        return "/var/cache/vmm";
    if (char const* cache = std::getenv("XDG_CACHE_HOME"); cache && *cache)
        return std::filesystem::path(cache) / "vmm";
    if (char const* home = std::getenv("HOME"); home && *home)
        return std::filesystem::path(home) / ".cache" / "vmm";
    throw Error("no cache directory: set XDG_CACHE_HOME or HOME");
}

std::filesystem::path unpacked_archive(std::string const& archive_path)
{
#ifdef VMM_WITHOUT_UNPACK
    // A cross build whose sysroot has no libarchive (unpack/CMakeLists.txt).
    throw Error(fmt::format("{}: a tar archive as the root filesystem needs vmm-unpack, which this build of vmm ({}) does not have "
                            "(no libarchive for it): give an ext4 image or a directory",
        archive_path, VMM_WITHOUT_UNPACK));
#endif
    auto const program = companion_program_path("vmm-unpack");
    int output[2];
    int errors[2];
    if (::pipe2(output, O_CLOEXEC) < 0)
        throw_system_error("pipe2", "(vmm-unpack)");
    FileDescriptor output_read(output[0]);
    FileDescriptor output_write(output[1]);
    if (::pipe2(errors, O_CLOEXEC) < 0)
        throw_system_error("pipe2", "(vmm-unpack)");
    FileDescriptor errors_read(errors[0]);
    FileDescriptor errors_write(errors[1]);
    pid_t pid = ::fork();
    if (pid < 0)
        throw_system_error("fork", program);
    if (pid == 0) {
        ::dup2(output_write.get(), STDOUT_FILENO);
        ::dup2(errors_write.get(), STDERR_FILENO);
        char* const argv[] = { const_cast<char*>(program.c_str()), const_cast<char*>(archive_path.c_str()), nullptr };
        ::execv(program.c_str(), argv);
        auto message = fmt::format("{}: {} (it is built and installed next to vmm)\n", program, std::strerror(errno));
        (void)!::write(STDERR_FILENO, message.data(), message.size());
        ::_exit(127);
    }
    output_write.reset();
    errors_write.reset();
    // The tree's path is one short line; errors are one line too.
    auto error_text = trimmed(read_all(errors_read.get()));
    auto tree = trimmed(read_all(output_read.get()));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            throw_system_error("waitpid", program);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || tree.empty())
        throw Error(error_text.empty() ? fmt::format("{} failed on {}", program, archive_path) : error_text);
    return tree;
}

}
