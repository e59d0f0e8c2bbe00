#pragma once

#include "common/FileDescriptor.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace vmm::oci {

// The containers vmm runs as an OCI runtime live under --root (default
// /run/vmm-oci), one directory each, named by the container id:
//   state.json   what `state` shows and what later commands need (pid and
//                its start time, bundle, cgroup, created time, annotations)
//   config.json  the bundle's config as it was at create
//   exec.fifo    while created: start writes a byte here to let it run
// Every command that changes a container locks its directory (flock) for
// what it does, so concurrent calls on one container take turns; state and
// list only read, and do not wait.

enum class Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
};

char const* status_name(Status status);

struct ContainerRecord {
    std::string id;
    std::string bundle;
    pid_t pid { 0 };
    uint64_t pid_start_time { 0 }; // /proc/PID/stat's starttime: tells PID reuse apart.
    std::string cgroups_path;
    // The cgroup's directories that existed before create (a cgroupsPath
    // it joined): left at delete, where the ones create made are removed.
    std::vector<std::string> cgroup_joined;
    uint64_t cgroup_inode { 0 }; // Its directory's, at create: tells a cgroup made since apart.
    std::string created; // RFC 3339.
    std::string owner;
    nlohmann::json annotations = nlohmann::json::object();
};

struct LockedContainer;

class StateDirectory {
public:
    explicit StateDirectory(std::string root);

    std::string const& root() const { return m_root; }
    std::string container_directory(std::string const& id) const { return m_root + "/" + id; }

    // Makes the container's directory (locked): an Error naming the id if
    // it exists already.
    FileDescriptor create_container_directory(std::string const& id) const;
    // Opens and locks it: an Error "container ID does not exist" if absent.
    FileDescriptor lock_container(std::string const& id) const;
    // Locks it and reads its record and its status now, which the lock
    // keeps from changing through another runtime command.
    LockedContainer open_locked(std::string const& id) const;
    // The ids of every container under --root.
    std::vector<std::string> list() const;

    void write_record(ContainerRecord const& record, nlohmann::json const& config) const;
    ContainerRecord read_record(std::string const& id) const;
    nlohmann::json read_config(std::string const& id) const;
    void remove_container_directory(std::string const& id) const;

private:
    std::string m_root;
};

// Refuses ids that could name another path ("", ".", "..", "a/b") or are unwieldy.
void validate_container_id(std::string const& id);

// The status of a container now: its process alive (the same process, by
// start time), created until start removes the fifo, paused if frozen.
Status current_status(StateDirectory const& directory, ContainerRecord const& record);
// The same for commands that read without the lock (state, list), so that
// they answer while a create runs its hooks: a record without a process is
// "creating" while its create holds the lock, and stopped once it died.
Status observed_status(StateDirectory const& directory, ContainerRecord const& record);

struct LockedContainer {
    FileDescriptor lock;
    ContainerRecord record;
    Status status;
};

// /proc/PID/stat's starttime; 0 if the process is gone (or a zombie),
// which a record never takes for its process.
uint64_t process_start_time(pid_t pid);

// The state JSON of the runtime-spec ("ociVersion", "id", "status", "pid",
// "bundle", "annotations"), as `state` prints and hooks read.
nlohmann::json state_json(ContainerRecord const& record, Status status);

// Writes `text` to `path` through a temporary file and a rename; the file
// is readable by its owner only (the config copy may hold secrets in env).
void write_file_atomically(std::string const& path, std::string const& text);

}
