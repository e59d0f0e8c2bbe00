#include "common/cgroup/CgroupV2.h"

#include "common/Error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm {

CgroupV2::CgroupV2(std::string const& root, std::string const& name)
    : m_root(root)
    , m_directory(fmt::format("{}/{}", root, name))
{
    make_cgroup_directory(m_directory);
}

CgroupV2::~CgroupV2()
{
    if (!remove_cgroup_directory(m_directory))
        spdlog::warn("cannot remove cgroup {}: {}", m_directory, std::strerror(errno));
}

std::set<std::string> CgroupV2::available_controllers() const
{
    std::ifstream file(m_root + "/cgroup.controllers");
    std::set<std::string> controllers;
    std::string controller;
    while (file >> controller)
        controllers.insert(controller);
    return controllers;
}

void CgroupV2::enable_controller(std::string const& controller)
{
    if (!available_controllers().contains(controller))
        throw Error(fmt::format("cgroup v2 at {} has no {} controller (it may be bound to a cgroup v1 hierarchy)", m_root, controller));
    write_control_file(m_root + "/cgroup.subtree_control", "+" + controller);
}

void CgroupV2::apply(ResourceLimits const& limits)
{
    if (limits.memory_bytes) {
        enable_controller("memory");
        write_control_file(m_directory + "/memory.max", fmt::format("{}", *limits.memory_bytes));
        // No swap either, as with v1's memsw limit; absent without swap support.
        if (::access((m_directory + "/memory.swap.max").c_str(), F_OK) == 0)
            write_control_file(m_directory + "/memory.swap.max", "0");
    }
    if (limits.cpus) {
        enable_controller("cpu");
        write_control_file(m_directory + "/cpu.max", format_cpu_max(*limits.cpus));
    }
    if (limits.pids) {
        enable_controller("pids");
        write_control_file(m_directory + "/pids.max", fmt::format("{}", *limits.pids));
    }
}

void CgroupV2::restrict_devices(std::span<DeviceRule const> rules)
{
    auto directory = FileDescriptor::open(m_directory, O_RDONLY | O_DIRECTORY);
    attach_device_filter(directory.get(), rules, m_directory);
}

void CgroupV2::attach(pid_t pid)
{
    write_control_file(m_directory + "/cgroup.procs", fmt::format("{}", pid));
}

void CgroupV2::prepare_join()
{
    m_directory_fd = FileDescriptor::open(m_directory, O_RDONLY | O_DIRECTORY);
}

std::string format_cpu_max(double cpus)
{
    return fmt::format("{} {}", cpu_quota_us(cpus), cpu_period_us);
}

}
