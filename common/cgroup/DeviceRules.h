#pragma once

#include <cstdint>
#include <linux/bpf.h>
#include <span>
#include <string>
#include <vector>

namespace vmm {

enum class DeviceType : char {
    Character = 'c',
    Block = 'b',
};

// Major or minor number that matches any.
constexpr int64_t any_device_number = -1;

// One device the container may create (mknod) and open for reading and
// writing. Everything else is denied: its cgroup refuses both.
struct DeviceRule {
    DeviceType type;
    int64_t major;
    int64_t minor;
};

// The OCI runtime-spec's default devices (runc's allowlist without its
// "mknod anything" wildcards): null, zero, full, random, urandom, tty, ptmx,
// and the container's own pseudo-terminals.
std::span<DeviceRule const> default_device_rules();

// cgroup v1: the lines for devices.allow ("c 1:3 rwm", "c 136:* rwm").
std::string format_device_rule(DeviceRule const& rule);

// cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program that returns 1 (allow) for
// the rules' devices and 0 for any other, as the kernel's cgroup v2 device
// controller wants.
std::vector<bpf_insn> device_filter_program(std::span<DeviceRule const> rules);

// Loads that program and attaches it to the cgroup v2 directory open as
// `cgroup_fd`; the cgroup keeps it for its lifetime.
void attach_device_filter(int cgroup_fd, std::span<DeviceRule const> rules, std::string const& cgroup_path);

}
