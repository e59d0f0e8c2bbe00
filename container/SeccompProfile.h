#pragma once

#include <linux/filter.h>
#include <span>
#include <vector>

namespace vmm::container {

// The container's default seccomp profile, kept as data in SeccompProfile.cpp.
// Its intent is that of Docker's default profile: an allow-list of the
// system calls ordinary programs use; the dangerous ones (kexec, module
// loading, bpf, keys, the mount family, reboot, userfaultfd,
// perf_event_open, ...) fail with EPERM; every other system call, including
// numbers the profile does not know, fails with ENOSYS so that programs fall
// back as they would on an older kernel. Foreign architectures are refused
// (the process is killed).

enum class SeccompAction {
    Allow,
    DenyWithPermissionError, // EPERM.
};

struct SeccompRule {
    char const* name;
    SeccompAction action;
};

std::span<SeccompRule const> seccomp_profile();

// Compiles the profile with libseccomp into a BPF program. This is the
// expensive part (about a millisecond), so the container's child does it
// while the parent is still attaching it to its cgroup.
std::vector<sock_filter> compile_seccomp_profile();

// Loads a compiled program into the calling thread; no_new_privs must be set.
void load_seccomp_program(std::vector<sock_filter> const& program);

}
