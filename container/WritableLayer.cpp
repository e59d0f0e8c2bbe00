#include "container/WritableLayer.h"

#include "common/Error.h"
#include "container/Cgroup.h"

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
    if (::mkdir(path.c_str(), mode) < 0 && errno != EEXIST)
        throw_system_error("mkdir", path);
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
    std::filesystem::create_directories(writable_layers_directory, error);
    if (error)
        throw Error(fmt::format("mkdir {}: {}", writable_layers_directory, error.message()));
    // Others may pass through (the container's root may be another uid) but
    // not list; each layer is closed to everyone but the container's root.
    make_directory(writable_layers_directory, 0711, 0, 0);
    remove_layer(m_path); // Left by a killed vmm whose PID was ours.
    try {
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
    remove_layer(m_path);
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
