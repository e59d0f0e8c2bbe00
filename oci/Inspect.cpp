// pause, resume, list and ps: the freezer and what --root and the
// container's cgroup hold.

#include "oci/Runtime.h"

#include "common/Error.h"
#include "common/cgroup/Cgroup.h"
#include "oci/ContainerCgroup.h"
#include "oci/State.h"

#include <algorithm>
#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

namespace vmm::oci {

using nlohmann::json;

int pause_container(GlobalOptions const& global, std::string const& id)
{
    StateDirectory directory(global.root);
    auto [lock, record, status] = directory.open_locked(id);
    if (status != Status::Running)
        throw Error(fmt::format("container {} is {}: only a running container can be paused", id, status_name(status)));
    auto cgroup = open_container_cgroup(record);
    if (!cgroup)
        throw Error(fmt::format("container {} has no cgroup to freeze", id));
    cgroup->set_freezer_state(vmm::FreezerState::Frozen);
    return 0;
}

int resume_container(GlobalOptions const& global, std::string const& id)
{
    StateDirectory directory(global.root);
    auto [lock, record, status] = directory.open_locked(id);
    if (status != Status::Paused)
        throw Error(fmt::format("container {} is {}, not paused", id, status_name(status)));
    auto cgroup = open_container_cgroup(record);
    if (!cgroup)
        throw Error(fmt::format("container {} has no cgroup to thaw", id));
    cgroup->set_freezer_state(vmm::FreezerState::Thawed);
    return 0;
}

int list_containers(GlobalOptions const& global, bool json_format, bool quiet)
{
    StateDirectory directory(global.root);
    json all = json::array();
    std::string table = quiet ? "" : fmt::format("{:<24} {:<8} {:<10} {:<40} {:<32} {}\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
    for (auto const& id : directory.list()) {
        ContainerRecord record;
        try {
            record = directory.read_record(id);
        } catch (Error const&) {
            continue;
        }
        auto status = observed_status(directory, record);
        auto state = state_json(record, status);
        state["created"] = record.created;
        state["owner"] = record.owner;
        all.push_back(state);
        table += quiet ? id + "\n" : fmt::format("{:<24} {:<8} {:<10} {:<40} {:<32} {}\n", id, status == Status::Stopped ? 0 : record.pid, status_name(status), record.bundle, record.created, record.owner);
    }
    if (json_format)
        fmt::print("{}\n", all.dump());
    else
        fmt::print("{}", table);
    return 0;
}

int list_processes(GlobalOptions const& global, std::string const& id, bool json_format)
{
    StateDirectory directory(global.root);
    auto [lock, record, status] = directory.open_locked(id);
    std::vector<pid_t> pids;
    if (auto cgroup = open_container_cgroup(record))
        pids = cgroup->process_ids();
    else if (status != Status::Stopped)
        pids.push_back(record.pid);
    if (json_format) {
        fmt::print("{}\n", json(pids).dump());
        return 0;
    }
    fmt::print("{:<8} {}\n", "PID", "CMD");
    for (auto pid : pids) {
        std::ifstream file(fmt::format("/proc/{}/cmdline", pid));
        std::string command((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        std::replace(command.begin(), command.end(), '\0', ' ');
        fmt::print("{:<8} {}\n", pid, command);
    }
    return 0;
}

}
