#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vmm::container {

enum class DeviceCreation {
    Allowlisted, // A device cgroup enforces the allowlist: CAP_MKNOD is kept.
    Denied,      // Nothing enforces it: CAP_MKNOD is dropped.
};

// Docker's default capability set (the OCI runtime-spec's example set).
// CAP_MKNOD is in it only where the device cgroup limits what it can make.
uint64_t default_capabilities(DeviceCreation device_creation = DeviceCreation::Allowlisted);

// Capability sets as bit masks (bit N: capability N).
struct CapabilitySets {
    uint64_t bounding { 0 };
    uint64_t effective { 0 };
    uint64_t permitted { 0 };
    uint64_t inheritable { 0 };
    uint64_t ambient { 0 };
};

// "CAP_SYS_ADMIN" (or "sys_admin") to its number; nullopt if this build does not know it.
std::optional<int> capability_from_name(std::string_view name);
std::string capability_name(int capability);
// The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap).
int last_capability();

// Drops every capability but `bounding` from the bounding set. Needs
// CAP_SETPCAP: before the process switches to its user.
void limit_bounding_set(uint64_t bounding);

// Sets effective, permitted and inheritable to `sets`, then raises the
// ambient ones (after a setuid, which PR_SET_KEEPCAPS carried the
// permitted set across).
void apply_capability_sets(CapabilitySets const& sets);

// Limits the calling process to the default set: drops every other
// capability from the bounding set, clears the inheritable and ambient sets
// (CVE-2022-29162), sets effective = permitted = the default set and turns on
// no_new_privs. Run last before seccomp and execve.
void drop_capabilities(DeviceCreation device_creation);

}
