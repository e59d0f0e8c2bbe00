#include "common/cgroup/CgroupV2.h"

#include "common/Error.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <ranges>
#include <spdlog/spdlog.h>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm {

CgroupV2::CgroupV2(std::string const& root, std::string const& name, CgroupLifetime lifetime, OpenMode mode)
    : m_root(root)
    , m_directory(fmt::format("{}/{}", root, name))
    , m_lifetime(lifetime)
{
    if (mode == Create)
        m_made = make_cgroup_directory(m_directory);
}

CgroupV2::~CgroupV2()
{
    if (m_lifetime == CgroupLifetime::Persistent || !m_made)
        return;
    if (!remove_cgroup_directory(m_directory))
        spdlog::warn("cannot remove cgroup {}: {}", m_directory, std::strerror(errno));
}

std::set<std::string> CgroupV2::available_controllers() const
{
    // One read of the fd, not an ifstream (a buffer allocated and a
    // locale set up, for a few words).
    std::set<std::string> controllers;
    FileDescriptor file(::open((m_root + "/cgroup.controllers").c_str(), O_RDONLY | O_CLOEXEC));
    if (!file.is_valid())
        return controllers;
    auto const text = read_all(file.get());
    for (auto word : std::views::split(std::string_view(text), ' ')) {
        std::string_view name(word.begin(), word.end());
        while (!name.empty() && name.back() == '\n')
            name.remove_suffix(1);
        if (!name.empty())
            controllers.emplace(name);
    }
    return controllers;
}

void CgroupV2::enable_controller(std::string const& controller)
{
    // Once per controller and cgroup: apply() asks for one per limit.
    if (m_enabled.contains(controller))
        return;
    if (!m_available)
        m_available = available_controllers();
    if (!m_available->contains(controller))
        throw Error(fmt::format("cgroup v2 at {} has no {} controller (it may be bound to a cgroup v1 hierarchy)", m_root, controller));
    // Every ancestor of a nested cgroup ("machine/ctr") passes it down.
    auto parent = m_root;
    auto relative = m_directory.substr(m_root.size() + 1);
    for (;;) {
        write_control_file(parent + "/cgroup.subtree_control", "+" + controller);
        auto slash = relative.find('/');
        if (slash == std::string::npos)
            break;
        // Appended in two steps: g++ 12 at -O3 takes `"/" + substr` for an
        // overlapping copy (a false -Wrestrict, GCC bug 105329).
        parent += '/';
        parent.append(relative, 0, slash);
        relative = relative.substr(slash + 1);
    }
    m_enabled.insert(controller);
}

void CgroupV2::apply(ResourceLimits const& limits)
{
    if (limits.memory_bytes) {
        enable_controller("memory");
        bool const unlimited = *limits.memory_bytes == unlimited_limit;
        write_control_file(m_directory + "/memory.max", unlimited ? std::string("max") : fmt::format("{}", *limits.memory_bytes));
        // No swap either, as with v1's memsw limit (none where memory has
        // none, as runc does); absent without swap support.
        if (::access((m_directory + "/memory.swap.max").c_str(), F_OK) == 0)
            write_control_file(m_directory + "/memory.swap.max", unlimited ? "max" : "0");
    }
    if (limits.memory_reservation) {
        enable_controller("memory");
        write_control_file(m_directory + "/memory.low", fmt::format("{}", *limits.memory_reservation));
    }
    if (limits.memory_swap && limits.memory_bytes && ::access((m_directory + "/memory.swap.max").c_str(), F_OK) == 0) {
        // v2 limits swap alone; the spec's value is memory plus swap.
        auto swap = *limits.memory_swap < 0 || *limits.memory_bytes == unlimited_limit ? std::string("max") : fmt::format("{}", *limits.memory_swap - static_cast<int64_t>(*limits.memory_bytes));
        write_control_file(m_directory + "/memory.swap.max", swap);
    }
    if (limits.cpus) {
        enable_controller("cpu");
        write_control_file(m_directory + "/cpu.max", format_cpu_max(*limits.cpus));
    }
    if (limits.cpu_quota_us || limits.cpu_period_us) {
        enable_controller("cpu");
        auto quota = limits.cpu_quota_us && *limits.cpu_quota_us > 0 ? fmt::format("{}", *limits.cpu_quota_us) : std::string("max");
        write_control_file(m_directory + "/cpu.max", fmt::format("{} {}", quota, limits.cpu_period_us.value_or(cpu_period_us)));
    }
    if (limits.cpu_shares) {
        enable_controller("cpu");
        // runc's conversion of shares (2-262144) to weight (1-10000).
        auto weight = 1 + ((std::clamp<uint64_t>(*limits.cpu_shares, 2, 262144) - 2) * 9999) / 262142;
        write_control_file(m_directory + "/cpu.weight", fmt::format("{}", weight));
    }
    if (limits.blkio_weight) {
        enable_controller("io");
        // blkio's 10-1000 onto io.weight's 1-10000.
        auto weight = 1 + ((std::clamp<uint64_t>(*limits.blkio_weight, 10, 1000) - 10) * 9999) / 990;
        write_control_file(m_directory + "/io.weight", fmt::format("default {}", weight));
    }
    if (limits.pids) {
        enable_controller("pids");
        write_control_file(m_directory + "/pids.max", *limits.pids == unlimited_limit ? std::string("max") : fmt::format("{}", *limits.pids));
    }
}

void CgroupV2::restrict_devices(std::span<DeviceRule const> rules)
{
    auto directory = FileDescriptor::open(m_directory, O_RDONLY | O_DIRECTORY);
    attach_device_filter(directory.get(), rules, m_directory);
}

bool CgroupV2::remove()
{
    return remove_cgroup_directory(m_directory);
}

void CgroupV2::set_freezer_state(FreezerState state)
{
    write_control_file(m_directory + "/cgroup.freeze", state == FreezerState::Frozen ? "1" : "0");
    // cgroup.events says "frozen 1" once every task is stopped.
    for (int attempt = 0; state == FreezerState::Frozen && attempt < 1000; ++attempt) {
        std::ifstream events(m_directory + "/cgroup.events");
        std::string key;
        std::string value;
        while (events >> key >> value) {
            if (key == "frozen" && value == "1")
                return;
        }
        ::usleep(1000);
    }
}

FreezerState CgroupV2::freezer_state() const
{
    std::ifstream file(m_directory + "/cgroup.freeze");
    std::string value;
    file >> value;
    return value == "1" ? FreezerState::Frozen : FreezerState::Thawed;
}

Cgroup::LimitEvents CgroupV2::limit_events() const
{
    return { read_keyed_value(m_directory + "/memory.events", "oom_kill"), read_keyed_value(m_directory + "/pids.events", "max") };
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
