#pragma once

#include "common/FileDescriptor.h"
#include "common/cgroup/DeviceRules.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace vmm {

// A memory or PID limit of `unlimited_limit` removes the limit (v1's -1 or
// "max", v2's "max"), as an OCI update with -1 asks.
constexpr uint64_t unlimited_limit = UINT64_MAX;

struct ResourceLimits {
    std::optional<uint64_t> memory_bytes;
    std::optional<double> cpus;
    std::optional<uint64_t> pids;
    // The rest of the OCI runtime-spec's linux.resources that vmm applies.
    std::optional<uint64_t> memory_reservation {};
    std::optional<int64_t> memory_swap {}; // Memory plus swap; -1: unlimited.
    std::optional<uint64_t> cpu_shares {};
    std::optional<int64_t> cpu_quota_us {}; // With cpu_period_us, instead of cpus.
    std::optional<uint64_t> cpu_period_us {};
    std::optional<uint16_t> blkio_weight {};

    bool any() const
    {
        return memory_bytes || cpus || pids || memory_reservation || memory_swap || cpu_shares || cpu_quota_us || cpu_period_us || blkio_weight;
    }
};

// Whether destroying the Cgroup object removes the cgroup. An OCI
// container's cgroup outlives `vmm oci create`: `delete` removes it.
enum class CgroupLifetime {
    Temporary,
    Persistent,
};

// Which controllers a cgroup needs. On v1 each is a hierarchy of its own, a
// directory more to make, join and remove for every container (v2 has one
// directory for all).
enum class CgroupControllers {
    All,    // OCI: pause and resume (the freezer), `update` of any limit (blkio too).
    Limits, // The memory, CPU, PID and device limits only (vmm --container, a VM's jail).
};

enum class FreezerState {
    Thawed,
    Frozen,
};

enum class CgroupVersion {
    V1,
    V2,
};

// The container's own cgroup. Creating it makes the directories and writes
// the limits; destroying it removes them again (the container's processes
// must be gone by then: PID 1 exiting kills the rest of its PID namespace).
class Cgroup {
public:
    virtual ~Cgroup() = default;

    virtual void apply(ResourceLimits const& limits) = 0;
    // Lets the container create and open only the devices of `rules`
    // (devices.allow on v1, a BPF device program on v2).
    virtual void restrict_devices(std::span<DeviceRule const> rules) = 0;
    // Whether restrict_devices() takes effect in one step (v2: one BPF
    // program attached) rather than rule by rule (v1: deny all, then allow
    // each), so that it may run while the container's first process makes
    // its own device nodes.
    virtual bool restricts_devices_in_one_step() const = 0;
    // Moves process `pid` (all its threads) into the cgroup.
    virtual void attach(pid_t pid) = 0;

    // The container's child joins the cgroup itself, before it does anything
    // else. Moving another process takes the kernel's global threadgroup lock
    // for writing, which waits for an RCU grace period (10 ms and more on a
    // quiet host); a single thread moving itself (v1: "0" into tasks) and
    // clone3's CLONE_INTO_CGROUP (v2) do not. prepare_join() runs in the
    // parent before the clone and opens what join_from_child() needs.
    virtual void prepare_join() = 0;
    virtual void join_from_child() = 0;
    // v1: the tasks files prepare_join() opened, for a child that gets them
    // over a socket (join_through_task_files()) because the cgroup was made
    // after the clone; empty on v2, which joins through clone3.
    virtual std::vector<int> task_files() const { return {}; }
    // v2: the cgroup directory for CLONE_INTO_CGROUP; -1 where not used.
    virtual int clone_into_fd() const { return -1; }
    // The cgroup's directory (for v1: the memory controller's).
    virtual std::string const& path() const = 0;

    // pause/resume: the freezer (v1's freezer.state, v2's cgroup.freeze).
    virtual void set_freezer_state(FreezerState state) = 0;
    virtual FreezerState freezer_state() const = 0;
    // The processes in the cgroup (cgroup.procs).
    std::vector<pid_t> process_ids() const;
    // Sends `signal_number` to every process in it.
    void signal_all(int signal_number) const;
    // What its limits refused so far (each 0 without its controller).
    struct LimitEvents {
        uint64_t out_of_memory_kills { 0 }; // Processes the out-of-memory killer ended.
        uint64_t process_limit_hits { 0 };  // Forks the process limit refused.
    };
    virtual LimitEvents limit_events() const = 0;
    // Removes the cgroup now (a Persistent one, at `delete`); false if busy.
    virtual bool remove() = 0;
    // From now on the cgroup outlives this object (create, once it succeeded).
    virtual void keep() = 0;
};

// What /sys/fs/cgroup is: a cgroup2 mount (v2), or a tmpfs of v1 hierarchies.
CgroupVersion detect_cgroup_version(std::string const& cgroup_root = "/sys/fs/cgroup");

// The name of the cgroup of the container that vmm process `pid` runs.
std::string container_cgroup_name(pid_t pid);

// Creates cgroup `name` on this host's cgroup file system. `name` may be a
// path ("machine/ctr"): missing parents are made (and kept).
std::unique_ptr<Cgroup> create_cgroup(std::string const& name, CgroupLifetime lifetime = CgroupLifetime::Temporary,
    CgroupControllers controllers = CgroupControllers::All);
// Opens the existing cgroup `name` (Persistent): nullptr if it is gone.
std::unique_ptr<Cgroup> open_cgroup(std::string const& name);

// Whether `pid` is a running vmm (whose cgroups and layers are in use): not
// a zombie.
bool is_live_vmm(pid_t pid);

// Removes the cgroups that vmm processes killed with SIGKILL left behind
// (their owner is gone, or its PID now belongs to another program). SIGKILL
// cannot be caught, so the next run sweeps. Processes still in one (a
// container that should have died with its vmm) are killed first; returns
// whether there were any.
bool sweep_stale_cgroups();

// Moves the calling thread into the v1 cgroups whose tasks files (opened
// by the parent's prepare_join(), so written with its credentials) are
// `task_files`: "0" into each, as join_from_child() does.
void join_through_task_files(std::span<FileDescriptor const> task_files);

// The number of microseconds of CPU time per period for `cpus` CPUs.
constexpr uint64_t cpu_period_us = 100000;
uint64_t cpu_quota_us(double cpus);

// The value of `key` in a cgroup file of "key value" lines (memory.events,
// pids.events); 0 where the file or key is absent.
uint64_t read_keyed_value(std::string const& path, std::string_view key);

// Writes `value` into the control file at `path` (one write, as the cgroup
// file system wants it); errors name the file.
void write_control_file(std::string const& path, std::string const& value);
// The same into `fd`, already open on `path` (for a file written many times).
void write_control_file(int fd, std::string const& path, std::string const& value);
// Makes a cgroup directory: true if it made it, false if it existed and is
// joined as it is (it is then never removed by its Cgroup's destructor).
// One with a per-PID name (container_cgroup_name) is left by a vmm that
// was killed (whose PID, and so name, is now ours again): it is removed and
// made again if it is empty.
bool make_cgroup_directory(std::string const& path);
// The directories of cgroup `name` that exist: v2's one, or one per v1
// hierarchy that vmm uses (in CgroupV1::controllers' order).
std::vector<std::string> cgroup_directories(std::string const& name);
// Makes the missing parents of cgroup directory `path`.
void make_cgroup_parents(std::string const& path);
// Removes a cgroup directory, waiting briefly while the kernel finishes
// tearing down its last tasks (EBUSY). Returns false if it could not.
bool remove_cgroup_directory(std::string const& path);

}
