#include "oci/ContainerCgroup.h"

#include "common/Error.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm::oci {

namespace {

// Where a container without linux.cgroupsPath gets its cgroup.
constexpr std::string_view default_cgroup_parent = "vmm-oci";

bool in_default_parent(std::string const& cgroups_path)
{
    return cgroups_path.starts_with(fmt::format("{}/", default_cgroup_parent));
}

// Whether `directory` has a directory below it: a cgroup's child cgroup.
bool has_child_cgroups(std::string const& directory)
{
    std::error_code error;
    for (auto const& entry : std::filesystem::directory_iterator(directory, error)) {
        if (entry.is_directory(error))
            return true;
    }
    return false;
}

}

std::string cgroup_path_for(std::string const& configured, std::string const& id)
{
    if (configured.empty())
        return fmt::format("{}/{}", default_cgroup_parent, id);
    if (configured.find(':') != std::string::npos)
        throw Error(fmt::format("linux.cgroupsPath '{}' is systemd's slice:prefix:name form: vmm manages cgroups itself (--systemd-cgroup is not supported)", configured));
    auto path = configured;
    while (!path.empty() && path.front() == '/')
        path.erase(0, 1);
    if (path.empty() || path.find("..") != std::string::npos)
        throw Error(fmt::format("linux.cgroupsPath '{}' is not a cgroup path", configured));
    return path;
}

std::vector<std::string> prepare_container_cgroup(std::string const& cgroups_path, CgroupPathSource source)
{
    auto existing_directories = vmm::cgroup_directories(cgroups_path);
    if (existing_directories.empty())
        return {};
    // As runc refuses it: the processes in it are not this container's, and
    // a delete or a failed create would kill them.
    for (auto const& directory : existing_directories) {
        std::ifstream procs(directory + "/cgroup.procs");
        size_t count = 0;
        for (pid_t pid = 0; procs >> pid;)
            ++count;
        if (count > 0)
            throw Error(fmt::format("cgroup {} is not empty: {} process(es) of another container or program are in {}", cgroups_path, count, directory));
    }
    if (source == CgroupPathSource::Configured)
        return existing_directories;
    // vmm-oci/ID left by a runtime that was killed: made anew, so that no
    // limit of the earlier container stays. rmdir refuses one with child
    // cgroups, which are then not ours to remove.
    for (auto const& directory : existing_directories) {
        if (::rmdir(directory.c_str()) < 0 && errno != ENOENT)
            throw_system_error("rmdir", fmt::format("{} (a cgroup left by an earlier container {})", directory, cgroups_path));
    }
    return {};
}

uint64_t cgroup_identity(std::string const& cgroups_path)
{
    auto cgroup = vmm::open_cgroup(cgroups_path);
    struct stat status {};
    if (!cgroup || ::stat(cgroup->path().c_str(), &status) < 0)
        return 0;
    return status.st_ino;
}

std::unique_ptr<Cgroup> open_container_cgroup(ContainerRecord const& record)
{
    if (record.cgroups_path.empty())
        return nullptr;
    auto cgroup = vmm::open_cgroup(record.cgroups_path);
    if (!cgroup || record.cgroup_inode == 0)
        return cgroup; // A state written before the inode was recorded: trusted by name.
    struct stat status {};
    if (::stat(cgroup->path().c_str(), &status) < 0 || status.st_ino != record.cgroup_inode) {
        spdlog::debug("cgroup {} is no longer container {}'s", record.cgroups_path, record.id);
        return nullptr;
    }
    return cgroup;
}

void remove_container_cgroup(ContainerRecord const& record)
{
    if (record.cgroups_path.empty())
        return;
    auto cgroup = open_container_cgroup(record);
    if (!cgroup) {
        remove_default_parent_if_empty(record.cgroups_path);
        return;
    }
    for (int attempt = 0; attempt < 500; ++attempt) {
        auto pids = cgroup->process_ids();
        if (pids.empty())
            break;
        cgroup->signal_all(SIGKILL);
        // Killed tasks in a frozen cgroup die only once it is thawed.
        if (cgroup->freezer_state() == vmm::FreezerState::Frozen)
            cgroup->set_freezer_state(vmm::FreezerState::Thawed);
        ::usleep(2000);
    }
    auto directories = vmm::cgroup_directories(record.cgroups_path);
    for (auto it = directories.rbegin(); it != directories.rend(); ++it) {
        if (std::ranges::find(record.cgroup_joined, *it) != record.cgroup_joined.end())
            continue;
        if (!vmm::remove_cgroup_directory(*it))
            throw_system_error("rmdir", fmt::format("{} (cgroup of container {})", *it, record.id));
    }
    remove_default_parent_if_empty(record.cgroups_path);
}

void remove_default_parent_if_empty(std::string const& cgroups_path)
{
    if (!in_default_parent(cgroups_path))
        return;
    auto parent = vmm::open_cgroup(std::string(default_cgroup_parent));
    // Other containers' cgroups in it: it stays, at once (a removal would
    // wait for EBUSY to clear in every hierarchy).
    if (!parent || has_child_cgroups(parent->path()) || !parent->process_ids().empty())
        return;
    parent->remove();
}

}
