#pragma once

#include <cstdint>
#include <linux/filter.h>
#include <optional>
#include <span>

namespace vmm::sandbox {

// The kinds of thread `vmm boot` runs, each confined to the system calls its
// work needs once the machine is set up (as Firecracker's per-thread filters
// are). The I/O thread is vmm's main thread: it runs the event loop (disks,
// console, signals, host input) and the shutdown.
// The values number the generated programs (program_0, ...).
enum class ThreadKind {
    Vcpu = 0,          // KVM_RUN and what its exits need.
    Io = 1,            // The event loop, disk I/O and the shutdown.
    IoWithTimings = 2, // Io, plus reading /proc/self/smaps for --timings at exit.
    BlockQueue = 3,    // A virtio-blk queue's own I/O thread: its event loop and the disk I/O.
};

inline constexpr ThreadKind all_thread_kinds[] = { ThreadKind::Vcpu, ThreadKind::Io, ThreadKind::IoWithTimings, ThreadKind::BlockQueue };

char const* thread_kind_name(ThreadKind kind);

// An argument condition: (argument[index] & mask) == value.
struct ArgumentCheck {
    unsigned index;
    uint64_t mask;
    uint64_t value;
};

// One allowed system call, optionally only with a given argument. Several
// rules for one call allow any of their arguments.
struct SyscallRule {
    char const* name;
    std::optional<ArgumentCheck> check {};
};

// The filters as data (BootSeccompRules.cpp): what each thread kind may call.
// Anything else stops vmm with a message naming the call and the thread.
std::span<SyscallRule const> boot_seccomp_rules(ThreadKind kind);

// The BPF programs vmm-compile-boot-seccomp made from the rules at build time.
std::span<sock_filter const> precompiled_boot_filter(ThreadKind kind);

// The name of native system call `number` (async-signal-safe: a table made at build time).
char const* syscall_name(long number);

}
