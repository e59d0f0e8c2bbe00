#include "oci/State.h"

#include "common/Error.h"
#include "common/ProcessStat.h"
#include "common/cgroup/Cgroup.h"
#include "oci/ContainerCgroup.h"

#include <cerrno>
#include <csignal>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm::oci {

using nlohmann::json;

char const* status_name(Status status)
{
    switch (status) {
    case Status::Creating:
        return "creating";
    case Status::Created:
        return "created";
    case Status::Running:
        return "running";
    case Status::Paused:
        return "paused";
    case Status::Stopped:
        return "stopped";
    }
    return "unknown";
}

void validate_container_id(std::string const& id)
{
    if (id.empty())
        throw Error("a container id is needed");
    if (id == "." || id == ".." || id.size() > 1024)
        throw Error(fmt::format("container id '{}' is not valid", id));
    for (char character : id) {
        bool ok = std::isalnum(static_cast<unsigned char>(character)) || character == '_' || character == '-' || character == '.' || character == '+';
        if (!ok)
            throw Error(fmt::format("container id '{}' is not valid (letters, digits, '_', '-', '.', '+')", id));
    }
}

StateDirectory::StateDirectory(std::string root)
    : m_root(std::move(root))
{
    if (m_root.empty())
        throw Error("--root: an empty path");
}

FileDescriptor StateDirectory::create_container_directory(std::string const& id) const
{
    // The root's own directory is private, as runc makes it: the config
    // copies in it may hold secrets (process.env). Its parents, and a root
    // that exists already, are left as they are.
    auto const parent = std::filesystem::path(m_root).parent_path();
    std::error_code error;
    if (!parent.empty())
        std::filesystem::create_directories(parent, error);
    if (error)
        throw Error(fmt::format("mkdir {} (--root): {}", parent.string(), error.message()));
    if (::mkdir(m_root.c_str(), 0700) < 0 && errno != EEXIST)
        throw_system_error("mkdir", fmt::format("{} (--root)", m_root));
    auto path = container_directory(id);
    if (::mkdir(path.c_str(), 0711) < 0) {
        if (errno == EEXIST)
            throw Error(fmt::format("container {} already exists (in {})", id, m_root));
        throw_system_error("mkdir", path);
    }
    auto directory = FileDescriptor::open(path, O_RDONLY | O_DIRECTORY);
    if (::flock(directory.get(), LOCK_EX) < 0)
        throw_system_error("flock", path);
    return directory;
}

FileDescriptor StateDirectory::lock_container(std::string const& id) const
{
    validate_container_id(id);
    auto path = container_directory(id);
    FileDescriptor directory(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory.is_valid()) {
        if (errno == ENOENT)
            throw Error(fmt::format("container {} does not exist", id));
        throw_system_error("open", path);
    }
    if (::flock(directory.get(), LOCK_EX) < 0)
        throw_system_error("flock", path);
    // Deleted while we waited for the lock.
    if (::access((path + "/state.json").c_str(), F_OK) < 0)
        throw Error(fmt::format("container {} does not exist", id));
    return directory;
}

std::vector<std::string> StateDirectory::list() const
{
    std::vector<std::string> ids;
    std::error_code error;
    for (auto const& entry : std::filesystem::directory_iterator(m_root, error)) {
        if (entry.is_directory(error) && std::filesystem::exists(entry.path() / "state.json", error))
            ids.push_back(entry.path().filename().string());
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

void write_file_atomically(std::string const& path, std::string const& text)
{
    auto temporary = path + ".tmp";
    {
        FileDescriptor file(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!file.is_valid())
            throw_system_error("open", temporary);
        if (!write_all(file.get(), text.data(), text.size()))
            throw_system_error("write", temporary);
    }
    if (::rename(temporary.c_str(), path.c_str()) < 0) {
        int saved = errno;
        ::unlink(temporary.c_str());
        errno = saved;
        throw_system_error("rename", path);
    }
}

void StateDirectory::write_record(ContainerRecord const& record, json const& config) const
{
    json state {
        { "id", record.id },
        { "bundle", record.bundle },
        { "pid", record.pid },
        { "pidStartTime", record.pid_start_time },
        { "cgroupsPath", record.cgroups_path },
        { "cgroupJoined", record.cgroup_joined },
        { "cgroupInode", record.cgroup_inode },
        { "created", record.created },
        { "owner", record.owner },
        { "annotations", record.annotations },
    };
    auto directory = container_directory(record.id);
    if (!config.is_null())
        write_file_atomically(directory + "/config.json", config.dump());
    write_file_atomically(directory + "/state.json", state.dump());
}

LockedContainer StateDirectory::open_locked(std::string const& id) const
{
    auto lock = lock_container(id);
    auto record = read_record(id);
    auto status = current_status(*this, record);
    return { std::move(lock), std::move(record), status };
}

ContainerRecord StateDirectory::read_record(std::string const& id) const
{
    auto path = container_directory(id) + "/state.json";
    std::ifstream file(path);
    if (!file)
        throw Error(fmt::format("container {} does not exist", id));
    try {
        auto state = json::parse(file);
        ContainerRecord record;
        record.id = state.at("id").get<std::string>();
        record.bundle = state.at("bundle").get<std::string>();
        record.pid = state.at("pid").get<pid_t>();
        record.pid_start_time = state.at("pidStartTime").get<uint64_t>();
        record.cgroups_path = state.at("cgroupsPath").get<std::string>();
        record.cgroup_joined = state.value("cgroupJoined", std::vector<std::string> {});
        record.cgroup_inode = state.value("cgroupInode", uint64_t { 0 });
        record.created = state.at("created").get<std::string>();
        record.owner = state.value("owner", "");
        record.annotations = state.value("annotations", json::object());
        return record;
    } catch (json::exception const& error) {
        throw Error(fmt::format("{}: damaged state ({})", path, error.what()));
    }
}

json StateDirectory::read_config(std::string const& id) const
{
    auto path = container_directory(id) + "/config.json";
    std::ifstream file(path);
    if (!file)
        throw Error(fmt::format("container {}: its config copy {} is missing", id, path));
    try {
        return json::parse(file);
    } catch (json::exception const& error) {
        throw Error(fmt::format("{}: damaged ({})", path, error.what()));
    }
}

void StateDirectory::remove_container_directory(std::string const& id) const
{
    std::error_code error;
    std::filesystem::remove_all(container_directory(id), error);
    if (error)
        throw Error(fmt::format("remove {}: {}", container_directory(id), error.message()));
}

uint64_t process_start_time(pid_t pid)
{
    auto const stat = running_process_stat(pid);
    return stat ? stat->start_time : 0; // Gone, or exited and not reaped yet: stopped.
}

Status current_status(StateDirectory const& directory, ContainerRecord const& record)
{
    // A start time of 0 is no process's: one that died before create read
    // it. Taken for a live one, it would match every PID that is gone.
    if (record.pid <= 0 || record.pid_start_time == 0 || process_start_time(record.pid) != record.pid_start_time)
        return Status::Stopped;
    if (::access((directory.container_directory(record.id) + "/exec.fifo").c_str(), F_OK) == 0)
        return Status::Created;
    if (auto cgroup = open_container_cgroup(record); cgroup && cgroup->freezer_state() == vmm::FreezerState::Frozen)
        return Status::Paused;
    return Status::Running;
}

Status observed_status(StateDirectory const& directory, ContainerRecord const& record)
{
    if (record.pid <= 0) {
        auto path = directory.container_directory(record.id);
        FileDescriptor lock(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (lock.is_valid() && ::flock(lock.get(), LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
            return Status::Creating;
    }
    return current_status(directory, record);
}

json state_json(ContainerRecord const& record, Status status)
{
    json state {
        { "ociVersion", "1.0.2" },
        { "id", record.id },
        { "status", status_name(status) },
        { "bundle", record.bundle },
        { "annotations", record.annotations },
    };
    if (status != Status::Stopped)
        state["pid"] = record.pid;
    else
        state["pid"] = 0;
    return state;
}

}
