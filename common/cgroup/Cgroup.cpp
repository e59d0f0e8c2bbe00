#include "common/cgroup/Cgroup.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "common/ProcessStat.h"
#include "common/cgroup/CgroupV1.h"
#include "common/cgroup/CgroupV2.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <csignal>
#include <unistd.h>

namespace vmm {

CgroupVersion detect_cgroup_version(std::string const& cgroup_root)
{
    auto detect = [&] {
        struct statfs status {};
        if (::statfs(cgroup_root.c_str(), &status) < 0)
            throw_system_error("statfs", cgroup_root);
        return status.f_type == CGROUP2_SUPER_MAGIC ? CgroupVersion::V2 : CgroupVersion::V1;
    };
    if (cgroup_root != "/sys/fs/cgroup")
        return detect();
    // The host's hierarchy does not change while vmm runs: it is looked at
    // once (a start asked four times, the container's child among them).
    static CgroupVersion const host_version = detect();
    return host_version;
}

namespace {

constexpr std::string_view container_cgroup_prefix = "vmm-container-";

// SIGKILLs the processes of the stale cgroup `path` and removes it once
// the kernel has taken them out (within a second): true if it did.
bool end_stale_processes(std::string const& path)
{
    for (int attempt = 0; attempt < 100; ++attempt) {
        std::ifstream processes(path + "/cgroup.procs");
        pid_t pid = 0;
        while (processes >> pid)
            ::kill(pid, SIGKILL);
        timespec pause { 0, 10000000 };
        ::nanosleep(&pause, nullptr);
        if (::rmdir(path.c_str()) == 0 || errno == ENOENT)
            return true;
        if (errno != EBUSY)
            return false;
    }
    return false;
}

// Returns whether it ended the processes of a stale cgroup.
bool sweep_directory(std::string const& directory)
{
    bool ended_processes = false;
    std::error_code error;
    for (auto const& entry : std::filesystem::directory_iterator(directory, error)) {
        auto name = entry.path().filename().string();
        if (!name.starts_with(container_cgroup_prefix) || !entry.is_directory(error))
            continue;
        pid_t owner = 0;
        auto digits = std::string_view(name).substr(container_cgroup_prefix.size());
        auto [end, parse_error] = std::from_chars(digits.data(), digits.data() + digits.size(), owner);
        if (parse_error != std::errc() || end != digits.data() + digits.size() || owner <= 0)
            continue;
        if (owner == ::getpid() || is_live_vmm(owner))
            continue;
        if (::rmdir(entry.path().c_str()) == 0) {
            spdlog::debug("removed the stale cgroup {}", entry.path().string());
            continue;
        }
        // Processes that outlived their vmm, which they should have died
        // with (a container of a vmm version that lost its parent-death
        // signal, or one still starting when vmm was killed): they hold its
        // mounts, loop device and image lock, so they are ended here.
        if (errno == EBUSY && end_stale_processes(entry.path().string())) {
            spdlog::debug("ended the processes of the stale cgroup {} and removed it", entry.path().string());
            ended_processes = true;
        }
    }
    return ended_processes;
}

}

bool is_live_vmm(pid_t pid)
{
    // A SIGKILLed vmm stays a zombie until its parent reaps it (a shell that
    // went away leaves that to the host's init): it holds nothing then.
    auto const stat = running_process_stat(pid);
    return stat && stat->name.starts_with("vmm");
}

std::string container_cgroup_name(pid_t pid)
{
    return fmt::format("{}{}", container_cgroup_prefix, pid);
}

bool sweep_stale_cgroups()
{
    std::string const root = "/sys/fs/cgroup";
    if (detect_cgroup_version(root) == CgroupVersion::V2)
        return sweep_directory(root);
    bool ended_processes = false;
    for (auto const* controller : CgroupV1::controllers)
        ended_processes |= sweep_directory(fmt::format("{}/{}", root, controller));
    return ended_processes;
}

std::unique_ptr<Cgroup> create_cgroup(std::string const& name, CgroupLifetime lifetime, CgroupControllers controllers)
{
    if (detect_cgroup_version() == CgroupVersion::V2)
        return std::make_unique<CgroupV2>("/sys/fs/cgroup", name, lifetime);
    return std::make_unique<CgroupV1>("/sys/fs/cgroup", name, lifetime, CgroupV1::Create, controllers);
}

std::unique_ptr<Cgroup> open_cgroup(std::string const& name)
{
    if (detect_cgroup_version() == CgroupVersion::V2) {
        if (::access(fmt::format("/sys/fs/cgroup/{}", name).c_str(), F_OK) < 0)
            return nullptr;
        return std::make_unique<CgroupV2>("/sys/fs/cgroup", name, CgroupLifetime::Persistent, CgroupV2::Existing);
    }
    if (::access(fmt::format("/sys/fs/cgroup/memory/{}", name).c_str(), F_OK) < 0 && ::access(fmt::format("/sys/fs/cgroup/pids/{}", name).c_str(), F_OK) < 0)
        return nullptr;
    return std::make_unique<CgroupV1>("/sys/fs/cgroup", name, CgroupLifetime::Persistent, CgroupV1::Existing);
}

std::vector<pid_t> Cgroup::process_ids() const
{
    std::ifstream file(path() + "/cgroup.procs");
    std::vector<pid_t> pids;
    pid_t pid = 0;
    while (file >> pid)
        pids.push_back(pid);
    return pids;
}

uint64_t read_keyed_value(std::string const& path, std::string_view key)
{
    std::ifstream file(path);
    std::string name;
    uint64_t value = 0;
    while (file >> name >> value) {
        if (name == key)
            return value;
    }
    return 0;
}

void Cgroup::signal_all(int signal_number) const
{
    for (auto pid : process_ids())
        ::kill(pid, signal_number);
}

void make_cgroup_parents(std::string const& path)
{
    auto slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0)
        return;
    auto parent = path.substr(0, slash);
    if (::access(parent.c_str(), F_OK) == 0)
        return;
    make_cgroup_parents(parent);
    if (::mkdir(parent.c_str(), 0755) < 0 && errno != EEXIST)
        throw_system_error("mkdir", parent);
}

uint64_t cpu_quota_us(double cpus)
{
    // The kernel refuses quotas under 1 ms.
    auto quota = static_cast<uint64_t>(std::llround(cpus * static_cast<double>(cpu_period_us)));
    return quota < 1000 ? 1000 : quota;
}

void write_control_file(std::string const& path, std::string const& value)
{
    FileDescriptor file(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!file.is_valid())
        throw_system_error("open", path);
    write_control_file(file.get(), path, value);
}

void write_control_file(int fd, std::string const& path, std::string const& value)
{
    if (::write(fd, value.data(), value.size()) < 0)
        throw_system_error("write " + value + " to", path);
}

bool make_cgroup_directory(std::string const& path)
{
    if (::mkdir(path.c_str(), 0755) == 0)
        return true;
    if (errno == EEXIST) {
        // A per-PID name (container_cgroup_name) that exists was left by a
        // vmm that was killed and whose PID is ours now: its limits and
        // device programs are not ours, so it is made anew (rmdir refuses
        // it while it has processes). Any other cgroup is joined as it is,
        // never removed: it is the caller's (an OCI cgroupsPath) or
        // another's, and what it holds is not ours to touch.
        auto const slash = path.rfind('/');
        auto const name = std::string_view(path).substr(slash == std::string::npos ? 0 : slash + 1);
        if (!name.starts_with(container_cgroup_prefix))
            return false;
        if (::rmdir(path.c_str()) == 0 && ::mkdir(path.c_str(), 0755) == 0)
            return true;
    }
    // Its parents are made when the first try finds one missing (a nested
    // cgroupsPath, or a parent that a delete emptied and removed).
    if (errno == ENOENT) {
        make_cgroup_parents(path);
        if (::mkdir(path.c_str(), 0755) == 0)
            return true;
        if (errno == EEXIST)
            return false;
    }
    throw_system_error("mkdir", path);
}

std::vector<std::string> cgroup_directories(std::string const& name)
{
    std::vector<std::string> directories;
    if (detect_cgroup_version() == CgroupVersion::V2) {
        if (auto directory = fmt::format("/sys/fs/cgroup/{}", name); ::access(directory.c_str(), F_OK) == 0)
            directories.push_back(directory);
        return directories;
    }
    for (auto const* controller : CgroupV1::controllers) {
        if (auto directory = fmt::format("/sys/fs/cgroup/{}/{}", controller, name); ::access(directory.c_str(), F_OK) == 0)
            directories.push_back(directory);
    }
    return directories;
}

bool remove_cgroup_directory(std::string const& path)
{
    // A few milliseconds at most: the tasks are already reaped.
    for (int attempt = 0; attempt < 200; ++attempt) {
        if (::rmdir(path.c_str()) == 0 || errno == ENOENT)
            return true;
        if (errno != EBUSY)
            return false;
        timespec pause { 0, 1000000 };
        ::nanosleep(&pause, nullptr);
    }
    return false;
}

}
