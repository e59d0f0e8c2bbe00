#pragma once

#include "common/FileDescriptor.h"
#include "common/cgroup/Cgroup.h"

#include <optional>
#include <set>
#include <string>

namespace vmm {

// cgroup v2: one directory in the unified hierarchy mounted at `root`. The
// controllers a limit needs are enabled in the root's cgroup.subtree_control.
class CgroupV2 final : public Cgroup {
public:
    enum OpenMode {
        Create,
        Existing,
    };
    CgroupV2(std::string const& root, std::string const& name, CgroupLifetime lifetime = CgroupLifetime::Temporary, OpenMode mode = Create);
    ~CgroupV2() override;

    void apply(ResourceLimits const& limits) override;
    void restrict_devices(std::span<DeviceRule const> rules) override;
    bool restricts_devices_in_one_step() const override { return true; }
    void attach(pid_t pid) override;
    void prepare_join() override;
    void join_from_child() override { }
    int clone_into_fd() const override { return m_directory_fd.get(); }
    std::string const& path() const override { return m_directory; }
    void set_freezer_state(FreezerState state) override;
    FreezerState freezer_state() const override;
    LimitEvents limit_events() const override;
    bool remove() override;
    void keep() override { m_lifetime = CgroupLifetime::Persistent; }

    // The controllers the root offers (its cgroup.controllers).
    std::set<std::string> available_controllers() const;

private:
    void enable_controller(std::string const& controller);

    std::string m_root;
    std::string m_directory;
    CgroupLifetime m_lifetime;
    bool m_made { false }; // Joined as it was otherwise: a Temporary one leaves it.
    FileDescriptor m_directory_fd;
    std::optional<std::set<std::string>> m_available; // The root's controllers, read once.
    std::set<std::string> m_enabled;                   // Those enable_controller() passed down.
};

// "QUOTA PERIOD" for cpu.max.
std::string format_cpu_max(double cpus);

}
