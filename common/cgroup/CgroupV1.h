#pragma once

#include "common/FileDescriptor.h"
#include "common/cgroup/Cgroup.h"

#include <span>
#include <string>
#include <vector>

namespace vmm {

// cgroup v1: one directory per controller hierarchy (memory, cpu, pids, devices),
// each mounted under `root` (normally /sys/fs/cgroup/<controller>).
class CgroupV1 final : public Cgroup {
public:
    enum OpenMode {
        Create,
        Existing, // open_cgroup(): the directories are there already.
    };
    CgroupV1(std::string const& root, std::string const& name, CgroupLifetime lifetime = CgroupLifetime::Temporary, OpenMode mode = Create,
        CgroupControllers controllers = CgroupControllers::All);
    ~CgroupV1() override;

    void apply(ResourceLimits const& limits) override;
    void restrict_devices(std::span<DeviceRule const> rules) override;
    bool restricts_devices_in_one_step() const override { return false; }
    void attach(pid_t pid) override;
    void prepare_join() override;
    void join_from_child() override;
    std::vector<int> task_files() const override;
    std::string const& path() const override { return m_directories.front(); }
    void set_freezer_state(FreezerState state) override;
    FreezerState freezer_state() const override;
    LimitEvents limit_events() const override;
    bool remove() override;
    void keep() override { m_lifetime = CgroupLifetime::Persistent; }

    std::string directory_of(std::string const& controller) const;

    // The controllers the container gets a cgroup in; the first one's is path().
    // Those of them that this host does not mount are left out, and the last
    // ones where CgroupControllers::Limits does not need them.
    static constexpr char const* controllers[] = { "memory", "cpu", "pids", "devices", "freezer", "blkio" };
    static constexpr size_t controllers_for_limits = 4;

private:
    // Whether `directory` is one this object made (a new cgroup, with the
    // kernel's defaults), not one it joined.
    bool made_here(std::string const& directory) const;

    std::string m_root;
    std::string m_name;
    CgroupLifetime m_lifetime;
    std::vector<std::string> m_directories; // Made or joined, in controllers' order.
    std::vector<std::string> m_made; // Those made by us: what a Temporary one removes, in reverse order.
    std::vector<FileDescriptor> m_join_files; // Each directory's tasks file.
};

// A v1 hierarchy as the host mounts it below /sys/fs/cgroup, for a
// container's own view of it (a new mount in its cgroup namespace).
struct CgroupV1Hierarchy {
    std::string name;                     // Its directory there: "memory", "cpu,cpuacct".
    std::vector<std::string> controllers; // "memory"; "cpu" and "cpuacct", each also a symlink to "cpu,cpuacct".
};

// The hierarchies below `root` that hold `controllers` (CgroupV1's), each
// once. A hierarchy's directory is named after its controllers, as systemd
// and cgroupfs-mount name them ("cpu,cpuacct", with the symlinks "cpu" and
// "cpuacct"), so that the name is also what a new mount of it takes: the
// same set of controllers. Reading the host's mountinfo instead takes
// 0.13 ms of a container's start.
std::vector<CgroupV1Hierarchy> cgroup_v1_hierarchies(std::span<char const* const> controllers, std::string const& root = "/sys/fs/cgroup");

}
