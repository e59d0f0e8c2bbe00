#include "unpack/UnpackArchive.h"

#include "common/ArchiveCache.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "unpack/ArchiveDigest.h"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <fmt/format.h>
#include <memory>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm {

namespace {

using ArchiveReader = std::unique_ptr<archive, decltype(&archive_read_free)>;
using ArchiveWriter = std::unique_ptr<archive, decltype(&archive_write_free)>;

ArchiveReader open_reader(int fd)
{
    ArchiveReader reader(archive_read_new(), archive_read_free);
    if (!reader)
        throw Error("archive_read_new: out of memory");
    archive_read_support_filter_all(reader.get());
    archive_read_support_format_tar(reader.get());
    if (::lseek(fd, 0, SEEK_SET) < 0 || archive_read_open_fd(reader.get(), fd, 64 * 1024) != ARCHIVE_OK)
        return ArchiveReader(nullptr, archive_read_free);
    return reader;
}

// Entry names stay inside the tree: relative, without "..".
void check_entry_name(std::string_view name, std::string const& archive_path, char const* what)
{
    if (name.starts_with('/'))
        throw Error(fmt::format("{}: {} '{}' is an absolute path (refusing the archive)", archive_path, what, name));
    size_t start = 0;
    while (start <= name.size()) {
        auto end = name.find('/', start);
        if (end == std::string_view::npos)
            end = name.size();
        if (name.substr(start, end - start) == "..")
            throw Error(fmt::format("{}: {} '{}' leads out of the tree (refusing the archive)", archive_path, what, name));
        start = end + 1;
    }
}

// Makes `path` (and its parents) and gives it `mode`, whatever the umask.
void make_directory(std::filesystem::path const& path, mode_t mode)
{
    std::error_code error;
    std::filesystem::create_directories(path, error);
    if (error)
        throw Error(fmt::format("mkdir {}: {}", path.string(), error.message()));
    if (::chmod(path.c_str(), mode) < 0)
        throw_system_error("chmod", path.string());
}

// The mode of a tree's root where its archive has no entry for it ("./"),
// as `docker export` and `podman export` write them: docker's.
constexpr mode_t default_root_mode = 0755;

bool is_root_entry(std::string_view name)
{
    while (name.starts_with("./"))
        name.remove_prefix(2);
    return name.empty() || name == ".";
}

// Whether the archive open as `fd` has an entry for the tree's root.
bool has_root_entry(int fd)
{
    auto reader = open_reader(fd);
    archive_entry* entry = nullptr;
    while (reader && archive_read_next_header(reader.get(), &entry) == ARCHIVE_OK) {
        if (char const* name = archive_entry_pathname(entry); name && is_root_entry(name))
            return true;
    }
    return false;
}

// Trees that earlier versions of vmm unpacked from an archive without a
// root entry kept their private staging directory's mode, 0700, at the root,
// so that no user but root could use the container: given the default here.
// A root that the archive itself made 0700 stays so.
void fix_legacy_root_mode(int archive_fd, std::filesystem::path const& tree)
{
    struct stat status {};
    if (::stat(tree.c_str(), &status) < 0)
        throw_system_error("stat", tree.string());
    if ((status.st_mode & 07777) != 0700 || has_root_entry(archive_fd))
        return;
    if (::chmod(tree.c_str(), default_root_mode) < 0)
        throw_system_error("chmod", tree.string());
}

// An unpacked tree may hold directories without write permission (0555,
// as images' /root or /proc are): root removes their entries anyway, any
// other user first gives the directories back their write bit (they are
// the user's own). A tree that still cannot go is said, not kept silently.
void remove_tree(std::filesystem::path const& path)
{
    std::error_code error;
    std::filesystem::remove_all(path, error);
    if (error && (error == std::errc::permission_denied || error == std::errc::operation_not_permitted)) {
        std::error_code walk_error;
        if (::chmod(path.c_str(), 0700) == 0) {
            for (std::filesystem::recursive_directory_iterator entry(path, walk_error), end; !walk_error && entry != end; entry.increment(walk_error)) {
                if (entry->is_directory(walk_error) && !entry->is_symlink(walk_error))
                    ::chmod(entry->path().c_str(), 0700);
            }
        }
        std::filesystem::remove_all(path, error);
    }
    if (error && error != std::errc::no_such_file_or_directory)
        spdlog::warn("cannot remove the unpacked tree {}: {}", path.string(), error.message());
}

// What runs that died (SIGKILL) while unpacking left: their partial
// directories. Also the per-archive lock files of earlier versions of vmm,
// which stayed after every archive, refused ones included.
void sweep_leftovers(std::filesystem::path const& trees)
{
    std::error_code error;
    for (auto const& entry : std::filesystem::directory_iterator(trees, error)) {
        auto name = entry.path().filename().string();
        if (name.size() > 5 && name.ends_with(".lock")) {
            ::unlink(entry.path().c_str());
            continue;
        }
        auto marker = name.find(".partial-");
        if (marker == std::string::npos)
            continue;
        pid_t owner = std::atoi(name.c_str() + marker + 9);
        if (owner > 0 && owner != ::getpid() && ::kill(owner, 0) < 0 && errno == ESRCH)
            remove_tree(entry.path());
    }
}

// Works in `directory` while it lives: libarchive's checks (no absolute
// path, no "..", no path through a symlink) apply to names relative to it.
class WorkingDirectory {
public:
    explicit WorkingDirectory(std::filesystem::path const& directory)
        : m_previous(FileDescriptor::open(".", O_PATH | O_DIRECTORY))
    {
        if (::chdir(directory.c_str()) < 0)
            throw_system_error("chdir", directory.string());
    }
    ~WorkingDirectory() { (void)!::fchdir(m_previous.get()); }
    WorkingDirectory(WorkingDirectory const&) = delete;
    WorkingDirectory& operator=(WorkingDirectory const&) = delete;

private:
    FileDescriptor m_previous;
};

void unpack(int fd, std::string const& archive_path, std::filesystem::path const& destination)
{
    WorkingDirectory working_directory(destination);
    auto reader = open_reader(fd);
    if (!reader)
        throw Error(fmt::format("{}: not a readable archive", archive_path));
    ArchiveWriter writer(archive_write_disk_new(), archive_write_free);
    int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_SYMLINKS
        | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
    if (::geteuid() == 0)
        flags |= ARCHIVE_EXTRACT_OWNER;
    archive_write_disk_set_options(writer.get(), flags);
    archive_write_disk_set_standard_lookup(writer.get());

    auto fail = [&](archive* source, std::string const& entry) {
        throw Error(fmt::format("{}: {}: {}", archive_path, entry.empty() ? std::string("reading") : entry,
            archive_error_string(source) ? archive_error_string(source) : "unknown error"));
    };
    archive_entry* entry = nullptr;
    size_t entries = 0;
    for (;;) {
        int result = archive_read_next_header(reader.get(), &entry);
        if (result == ARCHIVE_EOF)
            break;
        if (result != ARCHIVE_OK && result != ARCHIVE_WARN)
            fail(reader.get(), "");
        std::string const name = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
        check_entry_name(name, archive_path, "entry");
        auto type = archive_entry_filetype(entry);
        if (type == AE_IFCHR || type == AE_IFBLK)
            continue;
        if (char const* link = archive_entry_hardlink(entry))
            check_entry_name(link, archive_path, "hard link target");
        if (archive_write_header(writer.get(), entry) != ARCHIVE_OK)
            fail(writer.get(), name);
        if (archive_entry_size(entry) > 0) {
            void const* block = nullptr;
            size_t size = 0;
            la_int64_t offset = 0;
            for (;;) {
                int read_result = archive_read_data_block(reader.get(), &block, &size, &offset);
                if (read_result == ARCHIVE_EOF)
                    break;
                if (read_result != ARCHIVE_OK)
                    fail(reader.get(), name);
                if (archive_write_data_block(writer.get(), block, size, offset) != ARCHIVE_OK)
                    fail(writer.get(), name);
            }
        }
        if (archive_write_finish_entry(writer.get()) != ARCHIVE_OK)
            fail(writer.get(), name);
        ++entries;
    }
    if (archive_write_close(writer.get()) != ARCHIVE_OK)
        fail(writer.get(), "");
    if (entries == 0) {
        // A compressed file other than a tar archive (an ext4 image, say)
        // reads as an empty one: its first block of zeros ends a tar.
        if (archive_filter_count(reader.get()) > 1)
            throw Error(fmt::format("{}: {} data without a tar archive in it (uncompress an image first)", archive_path, archive_filter_name(reader.get(), 0)));
        throw Error(fmt::format("{}: the archive is empty", archive_path));
    }
}

}

std::filesystem::path unpack_archive_into_cache(std::string const& archive_path)
{
    auto archive_file = FileDescriptor::open(archive_path, O_RDONLY);
    auto const trees = archive_cache_directory() / "trees";
    // Root's trees may hold setuid files: no other user may reach them.
    make_directory(trees, 0700);

    auto const digest = archive_digest(archive_file.get(), archive_path, trees);
    auto const tree = trees / digest;
    // A tree is renamed into place only once it is complete: one that is
    // there is used without the lock.
    if (std::filesystem::is_directory(tree)) {
        fix_legacy_root_mode(archive_file.get(), tree);
        return tree;
    }
    // One lock for the cache, as for vmm boot's images: a second run waits
    // for the tree the first unpacks. No file per archive stays behind.
    auto const lock_path = (trees / ".lock").string();
    auto lock = FileDescriptor::open(lock_path, O_RDWR | O_CREAT, 0600);
    while (::flock(lock.get(), LOCK_EX) < 0) {
        if (errno != EINTR)
            throw_system_error("flock", lock_path);
    }
    if (std::filesystem::is_directory(tree))
        return tree;
    sweep_leftovers(trees);

    auto const partial = trees / fmt::format("{}.partial-{}", digest, ::getpid());
    remove_tree(partial);
    // It becomes the tree's root, whose mode an archive's "./" entry sets
    // (trees/ keeps the cache private).
    make_directory(partial, default_root_mode);
    try {
        unpack(archive_file.get(), archive_path, partial);
        if (::rename(partial.c_str(), tree.c_str()) < 0)
            throw_system_error("rename", tree.string());
    } catch (...) {
        remove_tree(partial);
        throw;
    }
    return tree;
}

}
