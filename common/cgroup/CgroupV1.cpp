#include "common/cgroup/CgroupV1.h"

#include "common/Error.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <fstream>
#include <optional>
#include <fmt/format.h>
#include <ranges>
#include <spdlog/spdlog.h>
#include <span>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm {

CgroupV1::CgroupV1(std::string const& root, std::string const& name, CgroupLifetime lifetime, OpenMode mode, CgroupControllers needed)
    : m_root(root)
    , m_name(name)
    , m_lifetime(lifetime)
{
    std::span<char const* const> wanted(controllers);
    if (needed == CgroupControllers::Limits)
        wanted = wanted.first(controllers_for_limits);
    try {
        for (auto const* controller : wanted) {
            if (::access(fmt::format("{}/{}", m_root, controller).c_str(), F_OK) < 0)
                continue;
            auto directory = directory_of(controller);
            if (mode == Existing) {
                if (::access(directory.c_str(), F_OK) == 0)
                    m_directories.push_back(directory);
                continue;
            }
            if (make_cgroup_directory(directory))
                m_made.push_back(directory);
            m_directories.push_back(directory);
        }
        if (m_directories.empty())
            throw Error(fmt::format("cgroup {}: no cgroup v1 hierarchy has it", m_name));
    } catch (...) {
        // The destructor does not run for a half-built object.
        for (auto it = m_made.rbegin(); it != m_made.rend(); ++it)
            remove_cgroup_directory(*it);
        throw;
    }
}

CgroupV1::~CgroupV1()
{
    if (m_lifetime == CgroupLifetime::Persistent)
        return;
    for (auto it = m_made.rbegin(); it != m_made.rend(); ++it) {
        if (!remove_cgroup_directory(*it))
            spdlog::warn("cannot remove cgroup {}: {}", *it, std::strerror(errno));
    }
}

bool CgroupV1::remove()
{
    bool removed = true;
    for (auto it = m_directories.rbegin(); it != m_directories.rend(); ++it)
        removed &= remove_cgroup_directory(*it);
    return removed;
}

void CgroupV1::set_freezer_state(FreezerState state)
{
    auto file = directory_of("freezer") + "/freezer.state";
    write_control_file(file, state == FreezerState::Frozen ? "FROZEN" : "THAWED");
    // The kernel freezes the tasks in the background: wait until it is done.
    for (int attempt = 0; state == FreezerState::Frozen && attempt < 1000; ++attempt) {
        std::ifstream current(file);
        std::string text;
        current >> text;
        if (text == "FROZEN")
            return;
        ::usleep(1000);
    }
}

FreezerState CgroupV1::freezer_state() const
{
    std::ifstream current(directory_of("freezer") + "/freezer.state");
    std::string text;
    current >> text;
    return text == "FROZEN" || text == "FREEZING" ? FreezerState::Frozen : FreezerState::Thawed;
}

Cgroup::LimitEvents CgroupV1::limit_events() const
{
    return { read_keyed_value(directory_of("memory") + "/memory.oom_control", "oom_kill"), read_keyed_value(directory_of("pids") + "/pids.events", "max") };
}

namespace {

// A v1 limit file's value; its maximum where it cannot be read (no swap
// accounting: nothing to order against).
uint64_t read_limit(std::string const& path)
{
    std::ifstream file(path);
    uint64_t value = 0;
    if (!(file >> value))
        return UINT64_MAX;
    return value;
}

}

bool CgroupV1::made_here(std::string const& directory) const
{
    return std::find(m_made.begin(), m_made.end(), directory) != m_made.end();
}

std::string CgroupV1::directory_of(std::string const& controller) const
{
    return fmt::format("{}/{}/{}", m_root, controller, m_name);
}

void CgroupV1::apply(ResourceLimits const& limits)
{
    auto const memory = directory_of("memory");
    bool const has_swap_accounting = ::access((memory + "/memory.memsw.limit_in_bytes").c_str(), F_OK) == 0;
    auto const limit_text = [](uint64_t limit) { return limit == unlimited_limit ? std::string("-1") : fmt::format("{}", limit); };
    // Memory plus swap gets the memory limit unless a swap limit is given,
    // so the limit cannot be dodged by swapping; the file is missing when
    // swap accounting is off.
    std::optional<std::string> memory_and_swap;
    if (limits.memory_swap)
        memory_and_swap = fmt::format("{}", *limits.memory_swap);
    else if (limits.memory_bytes)
        memory_and_swap = limit_text(*limits.memory_bytes);
    if (!has_swap_accounting)
        memory_and_swap.reset();
    if (limits.memory_bytes) {
        // The kernel keeps the memory limit at most the memory+swap one at
        // every write: a raise past the current memory+swap limit writes
        // that one first.
        // A directory made here has the kernel's maximum: nothing to read.
        auto const current_swap_limit = made_here(memory) ? UINT64_MAX : read_limit(memory + "/memory.memsw.limit_in_bytes");
        bool const swap_first = memory_and_swap && (*limits.memory_bytes == unlimited_limit || *limits.memory_bytes > current_swap_limit);
        if (swap_first)
            write_control_file(memory + "/memory.memsw.limit_in_bytes", *memory_and_swap);
        write_control_file(memory + "/memory.limit_in_bytes", limit_text(*limits.memory_bytes));
        if (swap_first)
            memory_and_swap.reset();
    }
    if (memory_and_swap)
        write_control_file(memory + "/memory.memsw.limit_in_bytes", *memory_and_swap);
    if (limits.memory_reservation)
        write_control_file(memory + "/memory.soft_limit_in_bytes", fmt::format("{}", *limits.memory_reservation));
    auto const cpu = directory_of("cpu");
    if (limits.cpus) {
        // A directory made here has the kernel's default period already,
        // which is cpu_period_us: a file opened is an inode made, and
        // evicted again when the cgroup goes.
        if (!made_here(cpu))
            write_control_file(cpu + "/cpu.cfs_period_us", fmt::format("{}", cpu_period_us));
        write_control_file(cpu + "/cpu.cfs_quota_us", fmt::format("{}", cpu_quota_us(*limits.cpus)));
    }
    if (limits.cpu_period_us)
        write_control_file(cpu + "/cpu.cfs_period_us", fmt::format("{}", *limits.cpu_period_us));
    if (limits.cpu_quota_us)
        write_control_file(cpu + "/cpu.cfs_quota_us", fmt::format("{}", *limits.cpu_quota_us));
    if (limits.cpu_shares)
        write_control_file(cpu + "/cpu.shares", fmt::format("{}", *limits.cpu_shares));
    if (limits.pids)
        write_control_file(directory_of("pids") + "/pids.max", *limits.pids == unlimited_limit ? std::string("max") : fmt::format("{}", *limits.pids));
    if (limits.blkio_weight) {
        auto file = directory_of("blkio") + "/blkio.weight";
        if (::access(file.c_str(), F_OK) < 0)
            file = directory_of("blkio") + "/blkio.bfq.weight";
        write_control_file(file, fmt::format("{}", *limits.blkio_weight));
    }
}

void CgroupV1::restrict_devices(std::span<DeviceRule const> rules)
{
    auto const deny_path = directory_of("devices") + "/devices.deny";
    auto const allow_path = directory_of("devices") + "/devices.allow";
    // Each list opened once (a container start writes a dozen rules): the
    // kernel takes one rule per write.
    auto deny = FileDescriptor::open(deny_path, O_WRONLY);
    auto allow = FileDescriptor::open(allow_path, O_WRONLY);
    // A new devices cgroup inherits its parent's list: deny all, then allow.
    write_control_file(deny.get(), deny_path, "a");
    for (auto const& rule : rules) {
        bool const allows = rule.effect == DeviceRuleEffect::Allow;
        write_control_file(allows ? allow.get() : deny.get(), allows ? allow_path : deny_path, format_device_rule(rule));
    }
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

std::vector<int> CgroupV1::task_files() const
{
    std::vector<int> fds;
    for (auto const& file : m_join_files)
        fds.push_back(file.get());
    return fds;
}

void join_through_task_files(std::span<FileDescriptor const> task_files)
{
    for (size_t index = 0; index < task_files.size(); ++index) {
        if (::write(task_files[index].get(), "0", 1) != 1)
            throw_system_error("write 0 to", fmt::format("(the container's cgroup, tasks file {} of {})", index + 1, task_files.size()));
    }
}

std::vector<CgroupV1Hierarchy> cgroup_v1_hierarchies(std::span<char const* const> controllers, std::string const& root)
{
    std::vector<CgroupV1Hierarchy> hierarchies;
    FileDescriptor directory(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!directory.is_valid())
        return hierarchies;
    for (auto const* controller : controllers) {
        // "cpu" is the hierarchy's directory, or a symlink to "cpu,cpuacct".
        char target[256];
        auto const length = ::readlinkat(directory.get(), controller, target, sizeof(target) - 1);
        if (length < 0 && errno != EINVAL)
            continue; // Not mounted here (EINVAL: there, and not a symlink).
        std::string name = length > 0 ? std::string(target, static_cast<size_t>(length)) : std::string(controller);
        if (name.find('/') != std::string::npos || std::ranges::find(hierarchies, name, &CgroupV1Hierarchy::name) != hierarchies.end())
            continue;
        CgroupV1Hierarchy hierarchy { name, {} };
        for (auto const part : std::views::split(std::string_view(name), ','))
            hierarchy.controllers.emplace_back(part.begin(), part.end());
        hierarchies.push_back(std::move(hierarchy));
    }
    return hierarchies;
}

}
