#pragma once

#include "common/FileDescriptor.h"
#include "common/cgroup/Cgroup.h"

#include <string>
#include <vector>

namespace vmm {

// cgroup v1: one directory per controller hierarchy (memory, cpu, pids, devices),
// each mounted under `root` (normally /sys/fs/cgroup/<controller>).
class CgroupV1 final : public Cgroup {
public:
    CgroupV1(std::string const& root, std::string const& name);
    ~CgroupV1() override;

    void apply(ResourceLimits const& limits) override;
    void restrict_devices(std::span<DeviceRule const> rules) override;
    void attach(pid_t pid) override;
    void prepare_join() override;
    void join_from_child() override;
    std::string const& path() const override { return m_directories.front(); }

    std::string directory_of(std::string const& controller) const;

    // The controllers the container gets a cgroup in; the first one's is path().
    static constexpr char const* controllers[] = { "memory", "cpu", "pids", "devices" };

private:
    std::string m_root;
    std::string m_name;
    std::vector<std::string> m_directories; // Made by us, removed in reverse order.
    std::vector<FileDescriptor> m_join_files; // Each directory's tasks file.
};

}
