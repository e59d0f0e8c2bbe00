#pragma once

#include "container/Cgroup.h"

#include <set>
#include <string>

namespace vmm::container {

// cgroup v2: one directory in the unified hierarchy mounted at `root`. The
// controllers a limit needs are enabled in the root's cgroup.subtree_control.
class CgroupV2 final : public Cgroup {
public:
    CgroupV2(std::string const& root, std::string const& name);
    ~CgroupV2() override;

    CgroupVersion version() const override { return CgroupVersion::V2; }
    void apply(ResourceLimits const& limits) override;
    void attach(pid_t pid) override;
    std::string const& path() const override { return m_directory; }

    // The controllers the root offers (its cgroup.controllers).
    std::set<std::string> available_controllers() const;

private:
    void enable_controller(std::string const& controller);

    std::string m_root;
    std::string m_directory;
};

// "QUOTA PERIOD" for cpu.max.
std::string format_cpu_max(double cpus);

}
