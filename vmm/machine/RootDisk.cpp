#include "vmm/machine/RootDisk.h"

#include "common/ArchiveCache.h"
#include "common/Error.h"
#include "common/ImageLock.h"
#include "common/LoopDevice.h"
#include "common/RootTree.h"
#include "guest/protocol.h"

#include <algorithm>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>
#include <vector>

extern char** environ;

namespace vmm {

namespace {

// Bumped when the way images are made changes, so that old ones are not reused.
constexpr char const* image_format_version = "vmm-tree-image-2";
constexpr uint64_t MiB = 1024 * 1024;

uint64_t fnv1a(std::string_view text, uint64_t hash)
{
    for (unsigned char byte : text) {
        hash ^= byte;
        hash *= 0x100000001b3ull;
    }
    return hash;
}

struct TreeListing {
    std::vector<std::string> lines;
    uint64_t data_bytes { 0 };
};

TreeListing list_tree(std::string const& directory)
{
    namespace fs = std::filesystem;
    TreeListing listing;
    try {
        for (auto const& entry : fs::recursive_directory_iterator(directory, fs::directory_options::none)) {
            struct stat status {};
            if (::lstat(entry.path().c_str(), &status) != 0)
                throw_system_error("lstat", entry.path().string());
            auto line = fmt::format("{} {:o} {}:{} {} {}.{:09}", fs::relative(entry.path(), directory).string(), status.st_mode,
                status.st_uid, status.st_gid, status.st_size, status.st_mtim.tv_sec, status.st_mtim.tv_nsec);
            if (S_ISLNK(status.st_mode))
                line += " -> " + fs::read_symlink(entry.path()).string();
            listing.lines.push_back(std::move(line));
            // Whole 4 KiB blocks, as ext4 stores them.
            listing.data_bytes += (static_cast<uint64_t>(status.st_size) + 4095) & ~uint64_t(4095);
        }
    } catch (fs::filesystem_error const& error) {
        throw Error(fmt::format("rootfs {}: cannot read {}: {}", directory, error.path1().string(), error.code().message()));
    }
    std::sort(listing.lines.begin(), listing.lines.end());
    return listing;
}

std::string listing_key(TreeListing const& listing)
{
    uint64_t first = fnv1a(image_format_version, 0xcbf29ce484222325ull);
    uint64_t second = fnv1a(image_format_version, 0x84222325cbf29ce4ull);
    for (auto const& line : listing.lines) {
        first = fnv1a(line + '\n', first);
        second = fnv1a('\n' + line, second);
    }
    return fmt::format("{:016x}{:016x}", first, second);
}

// The image holds the tree with room to spare for the guest's writes; it is
// sparse, so the room costs nothing until written.
uint64_t image_size_for(TreeListing const& listing)
{
    uint64_t const size = listing.data_bytes + listing.data_bytes / 4 + listing.lines.size() * 4096 + 256 * MiB;
    return (size + MiB - 1) / MiB * MiB;
}

// Runs `arguments`; returns its exit status and, through `errors`, what it
// wrote on stderr.
int run_tool(std::vector<std::string> const& arguments, std::string& errors)
{
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
        throw_system_error("pipe2", arguments.front());
    FileDescriptor read_end(pipe_fds[0]);
    FileDescriptor write_end(pipe_fds[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDERR_FILENO);
    std::vector<char*> argv;
    for (auto const& argument : arguments)
        argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    int const spawned = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned == ENOENT)
        throw Error(fmt::format("{} is not installed (e2fsprogs): vmm boot needs it to make an ext4 image of a directory", arguments.front()));
    if (spawned != 0)
        throw Error(describe_system_error("posix_spawn", arguments.front(), spawned));
    write_end.reset();
    char buffer[4096];
    ssize_t length = 0;
    while ((length = ::read(read_end.get(), buffer, sizeof(buffer))) > 0 || (length < 0 && errno == EINTR))
        errors.append(buffer, static_cast<size_t>(std::max<ssize_t>(length, 0)));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            throw_system_error("waitpid", arguments.front());
    }
    return vmm_exit_status_from_wait_status(status);
}

// mke2fs's first line says what went wrong (later ones are details, or the
// rest of a usage text from an mke2fs without -d, such as busybox's).
std::string first_line(std::string const& text)
{
    auto const start = text.find_first_not_of("\n");
    if (start == std::string::npos)
        return "no message";
    return text.substr(start, text.find('\n', start) - start);
}

// The mount points guest/init needs, added to the image (never to the tree)
// where the tree lacks them, so that a read-only boot has /dev, /proc, /sys
// and a /tmp. debugfs edits the image without mounting it.
void add_mount_points(std::string const& directory, std::string const& image)
{
    for (auto const* name : { "dev", "proc", "sys", "tmp" }) {
        struct stat status {};
        if (::lstat((directory + "/" + name).c_str(), &status) == 0)
            continue;
        std::string errors;
        std::vector<std::string> requests { fmt::format("mkdir /{}", name) };
        if (std::string_view(name) == "tmp")
            requests.push_back("sif /tmp mode 041777");
        for (auto const& request : requests) {
            if (run_tool({ "debugfs", "-w", "-R", request, image }, errors) != 0)
                throw Error(fmt::format("debugfs -w -R '{}' {} failed: {}", request, image, first_line(errors)));
        }
    }
}

void make_image(std::string const& directory, std::string const& partial, uint64_t size, size_t entries)
{
    ::unlink(partial.c_str());
    std::string errors;
    // root_owner=0:0: / is root's whoever makes the image, as in guest/build-rootfs.
    // -b 4096: below 512 MiB mke2fs picks 1 KiB blocks, four per page the guest writes (see guest/build-rootfs).
    int const status = run_tool({ "mke2fs", "-q", "-t", "ext4", "-b", "4096", "-d", directory, "-E", "root_owner=0:0", "-N", std::to_string(entries + 4096),
                                    "-F", partial, std::to_string(size / 1024) + "k" },
        errors);
    if (status != 0) {
        ::unlink(partial.c_str());
        throw Error(fmt::format("mke2fs -d {} failed (status {}; e2fsprogs' mke2fs 1.43 or later is needed): {}", directory, status, first_line(errors)));
    }
    add_mount_points(directory, partial);
    auto image = FileDescriptor::open(partial, O_RDWR);
    if (::fsync(image.get()) != 0)
        throw_system_error("fsync", partial);
}

// Copies `source` into `target`, leaving its holes as holes.
void copy_sparse(int source, int target, uint64_t size, std::string const& name)
{
    if (::ftruncate(target, static_cast<off_t>(size)) != 0)
        throw_system_error("ftruncate", name);
    off_t offset = 0;
    while (static_cast<uint64_t>(offset) < size) {
        off_t const data = ::lseek(source, offset, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break;
        if (data < 0)
            throw_system_error("lseek", name);
        off_t hole = ::lseek(source, data, SEEK_HOLE);
        if (hole < 0)
            throw_system_error("lseek", name);
        off_t in = data;
        off_t out = data;
        while (in < hole) {
            ssize_t const copied = ::copy_file_range(source, &in, target, &out, static_cast<size_t>(hole - in), 0);
            if (copied < 0 && errno == EINTR)
                continue;
            if (copied <= 0)
                throw_system_error("copy_file_range", name);
        }
        offset = hole;
    }
}

// Removes what killed vmm runs left in the cache, cheaply enough for every
// run that uses it: ".partial" images, which are only made under the cache's
// lock, held by the caller, and private copies whose lock nobody holds.
void sweep_leftovers(std::string const& cache)
{
    std::error_code ignored;
    for (auto const& entry : std::filesystem::directory_iterator(cache, ignored)) {
        auto const name = entry.path().filename().string();
        if (name.ends_with(".partial")) {
            spdlog::debug("removing {}, left by a vmm that was killed", entry.path().string());
            std::filesystem::remove(entry.path(), ignored);
            continue;
        }
        if (!name.starts_with("run-") || !name.ends_with(".ext4"))
            continue;
        FileDescriptor copy(::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
        if (!copy.is_valid() || ::flock(copy.get(), LOCK_EX | LOCK_NB) != 0)
            continue;
        // Only if the name is still the file that was locked: another sweep
        // may have removed it, and a new copy taken the name, in between.
        struct stat locked {};
        struct stat named {};
        if (::fstat(copy.get(), &locked) == 0 && ::lstat(entry.path().c_str(), &named) == 0 && locked.st_dev == named.st_dev && locked.st_ino == named.st_ino) {
            spdlog::debug("removing {}, the private copy of a vmm that was killed", entry.path().string());
            ::unlink(entry.path().c_str());
        }
    }
}

// A private copy in the cache under a name, for --jail to bind into its
// root. It is locked before it has a name (an unnamed file, then linked), so
// that no sweep ever finds it unlocked and takes it for a dead run's.
FileDescriptor make_named_copy(std::string const& cache, std::string& path)
{
    FileDescriptor copy(::open(cache.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!copy.is_valid())
        throw_system_error("open O_TMPFILE", cache);
    // Held while the copy is in use: a sweep that can take it knows the vmm that made the copy is gone.
    if (::flock(copy.get(), LOCK_SH) != 0)
        throw_system_error("flock", cache);
    auto const unnamed = fmt::format("/proc/self/fd/{}", copy.get());
    for (int attempt = 0; attempt < 16; ++attempt) {
        uint64_t random = 0;
        if (::getrandom(&random, sizeof(random), 0) != sizeof(random))
            throw_system_error("getrandom", cache);
        path = fmt::format("{}/run-{:012x}.ext4", cache, random & 0xffffffffffffull);
        if (::linkat(AT_FDCWD, unnamed.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0)
            return copy;
        if (errno != EEXIST)
            throw_system_error("linkat", path);
    }
    throw Error(fmt::format("cache directory {}: no free name for a private copy", cache));
}

}

std::string vmm_cache_directory()
{
    std::string directory;
    if (char const* override_directory = std::getenv("VMM_CACHE_DIR"); override_directory && *override_directory)
        directory = override_directory;
    else
        directory = (archive_cache_directory() / "images").string();
    std::error_code error;
    std::filesystem::create_directories(directory, error);
    if (error)
        throw Error(fmt::format("cache directory {}: {}", directory, error.message()));
    return directory;
}

std::string tree_listing_key(std::string const& directory)
{
    return listing_key(list_tree(directory));
}

std::string cached_tree_image(std::string const& directory)
{
    auto const listing = list_tree(directory);
    auto const key = listing_key(listing);
    auto const cache = vmm_cache_directory();
    auto const image = fmt::format("{}/tree-{}.ext4", cache, key);
    // One lock for the cache: a second vmm waits for the image the first makes.
    auto lock = FileDescriptor::open(cache + "/.lock", O_RDWR | O_CREAT, 0600);
    while (::flock(lock.get(), LOCK_EX) != 0) {
        if (errno != EINTR)
            throw_system_error("flock", cache + "/.lock");
    }
    // Every run that uses the cache sweeps it, whether or not it makes an image.
    sweep_leftovers(cache);
    if (::access(image.c_str(), F_OK) == 0) {
        spdlog::debug("rootfs {}: cached image {}", directory, image);
        return image;
    }
    spdlog::debug("rootfs {}: making {}", directory, image);
    auto const partial = image + ".partial";
    make_image(directory, partial, image_size_for(listing), listing.lines.size());
    if (::rename(partial.c_str(), image.c_str()) != 0) {
        ::unlink(partial.c_str());
        throw_system_error("rename", partial);
    }
    return image;
}

RootDisk RootDisk::prepare(DiskOptions const& given, CommandGiven command, PrivateCopy copy_kind)
{
    RootDisk root;
    root.m_disk = given;
    struct stat status {};
    // A missing path or a block device goes to the VM as it is (and a missing
    // one fails there, naming the disk).
    if (::stat(given.path.c_str(), &status) != 0 || !(S_ISDIR(status.st_mode) || S_ISREG(status.st_mode)))
        return root;
    std::string directory;
    switch (classify_root(given.path)) {
    case RootKind::Ext4Image:
        // The guest's kernel cannot replay a journal on a read-only disk and
        // would stop at mounting its root: said here, as for a container.
        // Under the read-only users' lock, so that an image a writer has
        // mounted (its journal in use) is reported as in use, never as one
        // to repair with e2fsck; the disk takes the lock again when it opens.
        if (given.access == DiskAccess::ReadOnly) {
            auto image = open_disk_image(given.path, O_RDONLY);
            lock_image(image.get(), given.path, ImageLockKind::Shared);
            check_ext4_journal_is_clean(image.get(), given.path);
        }
        return root;
    case RootKind::Archive:
        // A tar archive (docker/podman export) boots as the tree it unpacks
        // to, once, in the cache the container uses too.
        directory = unpacked_archive(given.path).string();
        break;
    case RootKind::Directory:
        directory = std::filesystem::canonical(given.path).string();
        break;
    }
    // The same checks, and messages, as for a container.
    if (std::filesystem::is_empty(directory))
        throw Error(fmt::format("rootfs {} is an empty directory", given.path));
    if (command == CommandGiven::No)
        check_tree_has_shell(FileDescriptor::open(directory, O_PATH | O_DIRECTORY).get(), given.path);
    auto const image = cached_tree_image(directory);
    root.m_disk.path = image;
    if (given.access == DiskAccess::ReadOnly)
        return root;
    // The guest writes to a copy of its own.
    auto const cache = vmm_cache_directory();
    std::string path;
    if (copy_kind == PrivateCopy::Unnamed) {
        root.m_private_copy = FileDescriptor(::open(cache.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
        if (!root.m_private_copy.is_valid())
            throw_system_error("open O_TMPFILE", cache);
        path = fmt::format("/proc/self/fd/{}", root.m_private_copy.get());
    } else {
        root.m_private_copy = make_named_copy(cache, path);
        root.m_private_path = path;
    }
    auto source_image = FileDescriptor::open(image, O_RDONLY);
    if (::fstat(source_image.get(), &status) != 0)
        throw_system_error("fstat", image);
    copy_sparse(source_image.get(), root.m_private_copy.get(), static_cast<uint64_t>(status.st_size), image);
    root.m_disk.path = path;
    return root;
}

RootDisk::RootDisk(RootDisk&& other) noexcept
    : m_disk(std::move(other.m_disk))
    , m_private_copy(std::move(other.m_private_copy))
    , m_private_path(std::exchange(other.m_private_path, {}))
{
}

RootDisk::~RootDisk()
{
    if (!m_private_path.empty())
        ::unlink(m_private_path.c_str());
}

}
