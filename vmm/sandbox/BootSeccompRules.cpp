#include "vmm/sandbox/BootSeccomp.h"

#include <asm/ioctls.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
// <linux/virtio_ring.h>, which it includes, has legacy helpers that are C only.
#define VIRTIO_RING_NO_LEGACY
#include <linux/vhost.h>

namespace vmm::sandbox {

namespace {

// Arguments a rule can insist on.
constexpr ArgumentCheck ioctl_request(uint64_t request) { return { 1, 0xffffffff, request }; }
// fstat() is newfstatat(fd, "", buf, AT_EMPTY_PATH): no path lookups.
constexpr ArgumentCheck empty_path { 3, AT_EMPTY_PATH, AT_EMPTY_PATH };

// What every thread needs: memory (malloc arenas), locks, the kick signal's
// return, clocks (where the vDSO falls back to system calls), writes to
// stdout, stderr and eventfds, and ending itself or vmm.
#define VMM_COMMON_RULES                                                                                  \
    { "brk" }, { "mmap" }, { "munmap" }, { "mprotect" }, { "madvise" }, { "mremap" },                      \
    { "futex" }, { "rt_sigreturn" }, { "rt_sigprocmask" }, { "sched_yield" },                              \
    { "clock_gettime" }, { "clock_nanosleep" }, { "nanosleep" }, { "gettid" }, { "getpid" },              \
    { "write" }, { "writev" }, { "sendto" }, { "exit" }, { "exit_group" }

constexpr SyscallRule vcpu_rules[] = {
    VMM_COMMON_RULES,
    { "ioctl", ioctl_request(KVM_RUN) },
    // Interrupt lines of the 8250, the i8042 and virtio devices (a configuration change on an error).
    { "ioctl", ioctl_request(KVM_IRQ_LINE) },
    // Completing instructions KVM's emulator cannot run (PVM hosts), and error reports.
    { "ioctl", ioctl_request(KVM_GET_REGS) },
    { "ioctl", ioctl_request(KVM_SET_REGS) },
    { "ioctl", ioctl_request(KVM_GET_SREGS) },
    { "ioctl", ioctl_request(KVM_GET_VCPU_EVENTS) },
    { "ioctl", ioctl_request(KVM_SET_VCPU_EVENTS) },
    // virtio-net at the driver's DRIVER_OK and reset (status writes reach
    // the device on the vCPU thread): the TAP's offloads, and vhost's rings
    // handed over and taken back.
    { "ioctl", ioctl_request(TUNSETOFFLOAD) },
    { "ioctl", ioctl_request(VHOST_SET_FEATURES) },
    { "ioctl", ioctl_request(VHOST_SET_VRING_NUM) },
    { "ioctl", ioctl_request(VHOST_SET_VRING_BASE) },
    { "ioctl", ioctl_request(VHOST_SET_VRING_ADDR) },
    { "ioctl", ioctl_request(VHOST_SET_VRING_KICK) },
    { "ioctl", ioctl_request(VHOST_SET_VRING_CALL) },
    { "ioctl", ioctl_request(VHOST_NET_SET_BACKEND) },
#if defined(__aarch64__)
    // The PC in error reports (KVM_GET_ONE_REG is how arm64 reads a register).
    { "ioctl", ioctl_request(KVM_GET_ONE_REG) },
#endif
};

#define VMM_IO_RULES                                                                                      \
    VMM_COMMON_RULES,                                                                                     \
    /* The event loop, eventfds, signalfd, stdin and the drain of the console output. */                 \
    { "epoll_wait" }, { "epoll_pwait" }, { "epoll_ctl" }, { "read" }, { "readv" }, { "poll" }, { "ppoll" }, \
    /* virtio-blk: preadv/pwritev, or io_uring (its ring is set up before the filter). virtio-net:     \
       read and writev on the TAP, which the common rules and these cover. */                           \
    { "preadv" }, { "pwritev" }, { "fdatasync" }, { "io_uring_enter" },                                  \
    /* Stopping the vCPUs, joining them, and closing everything at exit. */                               \
    { "tgkill" }, { "close" },                                                                            \
    /* Host input raises the 8250's interrupt, used buffers a virtio device's; the terminal is restored  \
       at exit and set raw again after SIGCONT (when vmm is its foreground job); SIGWINCH reads its size. */ \
    { "ioctl", ioctl_request(KVM_IRQ_LINE) }, { "ioctl", ioctl_request(TCGETS) },                         \
    { "ioctl", ioctl_request(TIOCGPGRP) }, { "getpgrp" },                                                 \
    { "ioctl", ioctl_request(TCSETS) }, { "ioctl", ioctl_request(TCSETSW) },                              \
    { "ioctl", ioctl_request(TCSETSF) }, { "ioctl", ioctl_request(TIOCGWINSZ) },                          \
    { "newfstatat", empty_path }, { "fstat" }

constexpr SyscallRule io_rules[] = { VMM_IO_RULES };

constexpr SyscallRule block_queue_rules[] = {
    VMM_COMMON_RULES,
    // Its event loop (the queue's eventfd), and the queue's preadv/pwritev or io_uring (set up before the filter).
    { "epoll_wait" }, { "epoll_pwait" }, { "read" },
    { "preadv" }, { "pwritev" }, { "fdatasync" }, { "io_uring_enter" },
    // The device's interrupt, pulsed by the thread that used the buffers (virtio::LinePulseInterrupt).
    { "ioctl", ioctl_request(KVM_IRQ_LINE) },
};

constexpr SyscallRule io_with_timings_rules[] = {
    VMM_IO_RULES,
    // --timings reads /proc/self/smaps and the vCPUs' KVM statistics at exit.
    { "openat" }, { "lseek" }, { "pread64" },
};

}

char const* thread_kind_name(ThreadKind kind)
{
    switch (kind) {
    case ThreadKind::Vcpu:
        return "vCPU";
    case ThreadKind::Io:
        return "I/O";
    case ThreadKind::IoWithTimings:
        return "I/O (--timings)";
    case ThreadKind::BlockQueue:
        return "virtio-blk queue";
    }
    return "unknown";
}

std::span<SyscallRule const> boot_seccomp_rules(ThreadKind kind)
{
    switch (kind) {
    case ThreadKind::Vcpu:
        return vcpu_rules;
    case ThreadKind::Io:
        return io_rules;
    case ThreadKind::IoWithTimings:
        return io_with_timings_rules;
    case ThreadKind::BlockQueue:
        return block_queue_rules;
    }
    return {};
}

}
