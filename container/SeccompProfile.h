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

// Compiles the profile with libseccomp into a BPF program for the running
// architecture. This takes a millisecond or two, so the build does it once
// (vmm-compile-seccomp) and vmm loads precompiled_seccomp_program().
std::vector<sock_filter> compile_seccomp_profile();

// The program compile_seccomp_profile() gave at build time.
std::span<sock_filter const> precompiled_seccomp_program();

// Loads a compiled program into the calling thread; no_new_privs must be set.
void load_seccomp_program(std::span<sock_filter const> program);

}
