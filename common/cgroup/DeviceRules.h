#pragma once

#include <cstdint>
#include <linux/bpf.h>
#include <optional>
#include <span>
#include <string_view>
#include <string>
#include <vector>

namespace vmm {

enum class DeviceType : char {
    All = 'a', // Any type (OCI's "a"), with any major and minor.
    Character = 'c',
    Block = 'b',
};

// The accesses a rule covers, as devices.allow's "rwm" letters.
enum DeviceAccess : uint8_t {
    DeviceRead = 1,
    DeviceWrite = 2,
    DeviceMknod = 4,
    DeviceAllAccess = DeviceRead | DeviceWrite | DeviceMknod,
};

enum class DeviceRuleEffect : uint8_t {
    Allow,
    Deny,
};

// Major or minor number that matches any.
constexpr int64_t any_device_number = -1;

// One rule of the device cgroup: by default a device the container may
// create (mknod) and open for reading and writing. Rules apply in order, a
// later one overriding an earlier one (as the OCI runtime-spec's
// linux.resources.devices); what no rule allows is denied.
struct DeviceRule {
    DeviceType type;
    int64_t major;
    int64_t minor;
    uint8_t access { DeviceAllAccess };
    DeviceRuleEffect effect { DeviceRuleEffect::Allow };
};

// The OCI runtime-spec's default devices (runc's allowlist without its
// "mknod anything" wildcards): null, zero, full, random, urandom, tty, ptmx,
// and the container's own pseudo-terminals.
std::span<DeviceRule const> default_device_rules();

// cgroup v1: the lines for devices.allow or devices.deny ("c 1:3 rwm",
// "c 136:* rwm", "a *:* rwm").
std::string format_device_rule(DeviceRule const& rule);

// "rwm" letters to DeviceAccess bits; nullopt for any other letter.
std::optional<uint8_t> parse_device_access(std::string_view letters);

// cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program that returns 1 (allow) for
// the rules' devices and 0 for any other, as the kernel's cgroup v2 device
// controller wants.
std::vector<bpf_insn> device_filter_program(std::span<DeviceRule const> rules);

// Loads that program and attaches it to the cgroup v2 directory open as
// `cgroup_fd`; the cgroup keeps it for its lifetime.
void attach_device_filter(int cgroup_fd, std::span<DeviceRule const> rules, std::string const& cgroup_path);

}
