#pragma once

#include <cstdint>

namespace vmm::container {

enum class DeviceCreation {
    Allowlisted, // A device cgroup enforces the allowlist: CAP_MKNOD is kept.
    Denied,      // Nothing enforces it: CAP_MKNOD is dropped.
};

// Docker's default capability set (the OCI runtime-spec's example set).
// CAP_MKNOD is in it only where the device cgroup limits what it can make.
uint64_t default_capabilities(DeviceCreation device_creation = DeviceCreation::Allowlisted);

// Limits the calling process to the default set: drops every other
// capability from the bounding set, clears the inheritable and ambient sets
// (CVE-2022-29162), sets effective = permitted = the default set and turns on
// no_new_privs. Run last before seccomp and execve.
void drop_capabilities(DeviceCreation device_creation);

}
