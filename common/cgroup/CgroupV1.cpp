#include "common/cgroup/CgroupV1.h"

#include "common/Error.h"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm {

CgroupV1::CgroupV1(std::string const& root, std::string const& name)
    : m_root(root)
    , m_name(name)
{
    try {
        for (auto const* controller : controllers) {
            auto directory = directory_of(controller);
            make_cgroup_directory(directory);
            m_directories.push_back(directory);
        }
    } catch (...) {
        // The destructor does not run for a half-built object.
        for (auto it = m_directories.rbegin(); it != m_directories.rend(); ++it)
            remove_cgroup_directory(*it);
        throw;
    }
}

CgroupV1::~CgroupV1()
{
    for (auto it = m_directories.rbegin(); it != m_directories.rend(); ++it) {
        if (!remove_cgroup_directory(*it))
            spdlog::warn("cannot remove cgroup {}: {}", *it, std::strerror(errno));
    }
}

std::string CgroupV1::directory_of(std::string const& controller) const
{
    return fmt::format("{}/{}/{}", m_root, controller, m_name);
}

void CgroupV1::apply(ResourceLimits const& limits)
{
    if (limits.memory_bytes) {
        auto directory = directory_of("memory");
        auto value = fmt::format("{}", *limits.memory_bytes);
        write_control_file(directory + "/memory.limit_in_bytes", value);
        // Memory plus swap gets the same limit, so the limit cannot be dodged
        // by swapping; the file is missing when swap accounting is off.
        if (::access((directory + "/memory.memsw.limit_in_bytes").c_str(), F_OK) == 0)
            write_control_file(directory + "/memory.memsw.limit_in_bytes", value);
    }
    if (limits.cpus) {
        auto directory = directory_of("cpu");
        write_control_file(directory + "/cpu.cfs_period_us", fmt::format("{}", cpu_period_us));
        write_control_file(directory + "/cpu.cfs_quota_us", fmt::format("{}", cpu_quota_us(*limits.cpus)));
    }
    if (limits.pids)
        write_control_file(directory_of("pids") + "/pids.max", fmt::format("{}", *limits.pids));
}

void CgroupV1::restrict_devices(std::span<DeviceRule const> rules)
{
    auto directory = directory_of("devices");
    // A new devices cgroup inherits its parent's list: deny all, then allow.
    write_control_file(directory + "/devices.deny", "a");
    for (auto const& rule : rules)
        write_control_file(directory + "/devices.allow", format_device_rule(rule));
}

void CgroupV1::attach(pid_t pid)
{
    auto text = fmt::format("{}", pid);
    for (auto const& directory : m_directories)
        write_control_file(directory + "/cgroup.procs", text);
}

void CgroupV1::prepare_join()
{
    for (auto const& directory : m_directories)
        m_join_files.push_back(FileDescriptor::open(directory + "/tasks", O_WRONLY));
}

void CgroupV1::join_from_child()
{
    // "0" is the writing thread; the child has no other thread.
    for (size_t index = 0; index < m_join_files.size(); ++index) {
        if (::write(m_join_files[index].get(), "0", 1) != 1)
            throw_system_error("write 0 to", m_directories[index] + "/tasks");
    }
}

}
