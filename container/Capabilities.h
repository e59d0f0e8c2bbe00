#pragma once

#include <cstdint>

namespace vmm::container {

// Docker's default capability set (the OCI runtime-spec's example set).
uint64_t default_capabilities();

// Limits the calling process to the default set: drops every other
// capability from the bounding set, clears the inheritable and ambient sets
// (CVE-2022-29162), sets effective = permitted = the default set and turns on
// no_new_privs. Run last before seccomp and execve.
void drop_capabilities();

}
