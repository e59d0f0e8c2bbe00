#include "container/WritableLayer.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "common/cgroup/Cgroup.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm::container {

namespace {

// mkdir, making the parents first where they are missing (on a first run
// /var/lib/vmm itself may be). Another vmm making it first is no error.
void create_missing_directory(std::string const& path, mode_t mode)
{
    if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST)
        return;
    if (errno != ENOENT)
        throw_system_error("mkdir", path);
    auto const parent = std::filesystem::path(path).parent_path();
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error)
        throw Error(fmt::format("mkdir {}: {}", parent.string(), error.message()));
    if (::mkdir(path.c_str(), mode) < 0 && errno != EEXIST)
        throw_system_error("mkdir", path);
}

// Most starts find the directory as the last container left it: then one
// lstat, and nothing is written (each chown or chmod is an inode update on
// the host's disk).
void make_directory(std::string const& path, mode_t mode, uid_t owner, gid_t group)
{
    struct stat status {};
    if (::lstat(path.c_str(), &status) < 0) {
        if (errno != ENOENT)
            throw_system_error("stat", path);
        create_missing_directory(path, mode);
        if (::lstat(path.c_str(), &status) < 0)
            throw_system_error("stat", path);
    }
    // chown and chmod follow symbolic links: only a directory is taken.
    if (!S_ISDIR(status.st_mode))
        throw Error(fmt::format("{}: exists and is not a directory", path));
    if (status.st_uid == owner && status.st_gid == group && (status.st_mode & 07777) == mode)
        return;
    if (::chown(path.c_str(), owner, group) < 0)
        throw_system_error("chown", path);
    if (::chmod(path.c_str(), mode) < 0)
        throw_system_error("chmod", path);
}

// Four system calls (open, getdents64 until it returns nothing, close)
// where std::filesystem::is_empty takes seven (a stat, fdopendir's fcntls);
// false where it cannot be read.
bool is_empty_directory(std::string const& path)
{
    auto directory = FileDescriptor(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!directory.is_valid())
        return false;
    alignas(dirent64) char buffer[4096];
    for (;;) {
        auto length = ::getdents64(directory.get(), buffer, sizeof(buffer));
        if (length <= 0)
            return length == 0;
        for (ssize_t offset = 0; offset < length;) {
            auto const* entry = reinterpret_cast<dirent64 const*>(buffer + offset);
            if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0)
                return false;
            offset += entry->d_reclen;
        }
    }
}

void remove_layer(std::string const& path)
{
    // What vanishes under the walk was removed by another vmm sweeping the
    // same stale layer at once: the walk starts again on what is left (none
    // once the layer itself is gone). No count limits the restarts, since
    // every vmm that gave up early could leave the layer behind; each
    // restart follows another's progress on a tree to which nobody adds.
    std::error_code error;
    do
        std::filesystem::remove_all(path, error);
    while (error == std::errc::no_such_file_or_directory);
    if (error)
        spdlog::warn("cannot remove the container's writable layer {}: {}", path, error.message());
}

}

WritableLayer::WritableLayer(pid_t owner, IdRange const& user_ids, IdRange const& group_ids)
    : m_path(fmt::format("{}/{}", writable_layers_directory, owner))
{
    // Others may pass through (the container's root may be another uid) but
    // not list; each layer is closed to everyone but the container's root.
    make_directory(writable_layers_directory, 0711, 0, 0);
    make_directory(pool_directory(), 0700, 0, 0);
    remove_layer(m_path); // Left by a killed vmm whose PID was ours.
    try {
        claim_pooled_layer();
        make_directory(m_path, 0700, user_ids.first, group_ids.first);
        for (auto const* name : { "upper", "work" })
            make_directory(fmt::format("{}/{}", m_path, name), 0755, user_ids.first, group_ids.first);
    } catch (...) {
        remove_layer(m_path);
        throw;
    }
}

WritableLayer::~WritableLayer()
{
    // A start that failed early did not remove it: no pooled layer keeps one.
    if (m_has_stale_work)
        remove_stale_work();
    if (!return_to_pool())
        remove_layer(m_path);
}

std::string WritableLayer::pool_directory()
{
    return fmt::format("{}/.pool", writable_layers_directory);
}

std::string WritableLayer::pool_slot_path(size_t slot)
{
    return fmt::format("{}/slot-{}", pool_directory(), slot);
}

std::string WritableLayer::stale_work_path() const
{
    return fmt::format("{}/stale-work", m_path);
}

// Removing a directory frees its block, which costs milliseconds on a file
// system mounted with `discard` (3.5 ms per directory on the development
// hosts, where ext4 issues the discard synchronously): an empty layer is kept
// for the next container instead, in one of a few numbered slots, so that a
// claim or a return is one rename (the lowest slot first: a host running one
// container at a time uses slot 0 only). Its work/ still holds the work/work
// that overlayfs made at the last mount and would remove, at that cost, while
// mounting. It is moved aside (a rename frees nothing) and removed while the
// container runs (remove_stale_work()).
void WritableLayer::claim_pooled_layer()
{
    auto claim = [&](std::string const& pooled) {
        if (::rename(pooled.c_str(), m_path.c_str()) < 0)
            return false;
        // A volatile overlay refuses a work/work it left (incompat/volatile):
        // it must go. A stale work directory in the way (from a start that
        // failed before removing it) goes first.
        auto const work = fmt::format("{}/work/work", m_path);
        if (::rename(work.c_str(), stale_work_path().c_str()) < 0 && (errno == ENOTEMPTY || errno == EEXIST)) {
            remove_layer(stale_work_path());
            if (::rename(work.c_str(), stale_work_path().c_str()) < 0)
                remove_layer(work);
        }
        m_has_stale_work = true;
        return true;
    };
    for (size_t slot = 0; slot < pool_slots; ++slot) {
        if (claim(pool_slot_path(slot)))
            return;
    }
    // No slot held one: an older vmm pooled its layers under other names.
    std::error_code error;
    for (auto const& entry : std::filesystem::directory_iterator(pool_directory(), error)) {
        if (claim(entry.path().string()))
            return;
    }
}

void WritableLayer::remove_stale_work()
{
    // No thread: one made while the child sets up competes with it for the
    // CPU (and costs a thread's start-up); the parent has nothing else to do
    // while the container runs. A layer without one (new, or its rename
    // failed) has nothing there; a volatile mount's leaves what follows,
    // anything else (a mount that died midway) goes with a tree walk.
    m_has_stale_work = false;
    auto const path = stale_work_path();
    // A volatile overlay leaves incompat/volatile/dirty in its work
    // directory (which keeps a later mount from using it): removed first.
    if (::unlink((path + "/incompat/volatile/dirty").c_str()) < 0 && errno != ENOENT) {
        remove_layer(path);
        return;
    }
    for (auto const* inner : { "/incompat/volatile", "/incompat", "" }) {
        if (::rmdir((path + inner).c_str()) < 0 && errno != ENOENT) {
            remove_layer(path);
            return;
        }
    }
}

bool WritableLayer::return_to_pool()
{
    // Only a layer nothing was written to: no data passes between containers.
    if (!is_empty_directory(fmt::format("{}/upper", m_path)))
        return false;
    for (size_t slot = 0; slot < pool_slots; ++slot) {
        if (::renameat2(AT_FDCWD, m_path.c_str(), AT_FDCWD, pool_slot_path(slot).c_str(), RENAME_NOREPLACE) == 0)
            return true;
        if (errno != EEXIST)
            return false;
    }
    return false;
}

void sweep_stale_writable_layers()
{
    std::error_code error;
    for (auto const& entry : std::filesystem::directory_iterator(writable_layers_directory, error)) {
        auto name = entry.path().filename().string();
        pid_t owner = 0;
        auto [end, parse_error] = std::from_chars(name.data(), name.data() + name.size(), owner);
        if (parse_error != std::errc() || end != name.data() + name.size() || owner <= 0)
            continue;
        if (owner != ::getpid() && !is_live_vmm(owner))
            remove_layer(entry.path().string());
    }
}

}
