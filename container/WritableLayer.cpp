#include "container/WritableLayer.h"

#include "common/Error.h"
#include "common/cgroup/Cgroup.h"

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm::container {

namespace {

void make_directory(std::string const& path, mode_t mode, uid_t owner, gid_t group)
{
    if (::mkdir(path.c_str(), mode) < 0) {
        if (errno != EEXIST)
            throw_system_error("mkdir", path);
        // Most starts find it as the last container left it: then nothing
        // is written (each chown or chmod is a journaled inode update on the
        // host's disk, which the overlay's unmount then syncs).
        struct stat status {};
        if (::lstat(path.c_str(), &status) == 0 && S_ISDIR(status.st_mode) && status.st_uid == owner && status.st_gid == group
            && (status.st_mode & 07777) == mode)
            return;
    }
    if (::chown(path.c_str(), owner, group) < 0)
        throw_system_error("chown", path);
    if (::chmod(path.c_str(), mode) < 0)
        throw_system_error("chmod", path);
}

void remove_layer(std::string const& path)
{
    std::error_code error;
    std::filesystem::remove_all(path, error);
    if (error)
        spdlog::warn("cannot remove the container's writable layer {}: {}", path, error.message());
}

}

WritableLayer::WritableLayer(pid_t owner, IdRange const& user_ids, IdRange const& group_ids)
    : m_path(fmt::format("{}/{}", writable_layers_directory, owner))
{
    std::error_code error;
    std::filesystem::create_directories(pool_directory(), error);
    if (error)
        throw Error(fmt::format("mkdir {}: {}", pool_directory(), error.message()));
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
    if (!return_to_pool())
        remove_layer(m_path);
}

std::string WritableLayer::pool_directory()
{
    return fmt::format("{}/.pool", writable_layers_directory);
}

std::string WritableLayer::stale_work_path() const
{
    return fmt::format("{}/stale-work", m_path);
}

// Removing a directory frees its block, which costs milliseconds on a file
// system mounted with `discard` (3.5 ms per directory on the development
// hosts, where ext4 issues the discard synchronously): an empty layer is kept
// for the next container instead. Its work/ still holds the work/work that
// overlayfs made at the last mount and would remove, at that cost, while
// mounting. It is moved aside (a rename frees nothing) and removed while the
// container runs (remove_stale_work()).
void WritableLayer::claim_pooled_layer()
{
    std::error_code error;
    for (auto const& entry : std::filesystem::directory_iterator(pool_directory(), error)) {
        if (::rename(entry.path().c_str(), m_path.c_str()) == 0) {
            // Failing leaves work/work to overlayfs, which removes it itself.
            (void)::rename(fmt::format("{}/work/work", m_path).c_str(), stale_work_path().c_str());
            return;
        }
    }
}

void WritableLayer::remove_stale_work()
{
    // No thread: one made while the child sets up competes with it for the
    // CPU (and costs a thread's start-up); the parent has nothing else to do
    // while the container runs. A layer without one (new, or its rename
    // failed) has nothing there: remove_all takes a missing path as done.
    remove_layer(stale_work_path());
}

bool WritableLayer::return_to_pool()
{
    constexpr size_t pool_size = 8;
    std::error_code error;
    // Only a layer nothing was written to: no data passes between containers.
    if (!std::filesystem::is_empty(fmt::format("{}/upper", m_path), error) || error)
        return false;
    size_t pooled = 0;
    for (auto it = std::filesystem::directory_iterator(pool_directory(), error); !error && it != std::filesystem::directory_iterator(); it.increment(error))
        ++pooled;
    if (error || pooled >= pool_size)
        return false;
    auto const target = fmt::format("{}/layer-{}", pool_directory(), ::getpid());
    return ::rename(m_path.c_str(), target.c_str()) == 0;
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
