#include "container/SeccompProfile.h"

#include "container/SeccompFilter.h"

#include "common/Error.h"

#include "common/FileDescriptor.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vmm::container {

namespace {

constexpr auto Allow = SeccompAction::Allow;
constexpr auto Deny = SeccompAction::DenyWithPermissionError;

// The profile. Names the running architecture does not have are skipped.
// clone and personality are allowed only with the arguments checked in
// add_conditional_rules() below; clone3 fails with ENOSYS (its flags cannot
// be inspected), which makes the C library fall back to clone.
constexpr SeccompRule profile[] = {
    // Files and directories.
    { "access", Allow }, { "chdir", Allow }, { "chmod", Allow }, { "chown", Allow },
    { "close", Allow }, { "close_range", Allow }, { "copy_file_range", Allow }, { "creat", Allow },
    { "dup", Allow }, { "dup2", Allow }, { "dup3", Allow }, { "faccessat", Allow },
    { "faccessat2", Allow }, { "fadvise64", Allow }, { "fallocate", Allow }, { "fchdir", Allow },
    { "fchmod", Allow }, { "fchmodat", Allow }, { "fchmodat2", Allow }, { "fchown", Allow },
    { "fchownat", Allow }, { "fcntl", Allow }, { "fdatasync", Allow }, { "fgetxattr", Allow },
    { "flistxattr", Allow }, { "flock", Allow }, { "fremovexattr", Allow }, { "fsetxattr", Allow },
    { "fstat", Allow }, { "fstatfs", Allow }, { "fsync", Allow }, { "ftruncate", Allow },
    { "futimesat", Allow }, { "getcwd", Allow }, { "getdents", Allow }, { "getdents64", Allow },
    { "getxattr", Allow }, { "inotify_add_watch", Allow }, { "inotify_init", Allow }, { "inotify_init1", Allow },
    { "inotify_rm_watch", Allow }, { "ioctl", Allow }, { "lchown", Allow }, { "lgetxattr", Allow },
    { "link", Allow }, { "linkat", Allow }, { "listxattr", Allow }, { "llistxattr", Allow },
    { "lremovexattr", Allow }, { "lseek", Allow }, { "lsetxattr", Allow }, { "lstat", Allow },
    { "mkdir", Allow }, { "mkdirat", Allow }, { "mknod", Allow }, { "mknodat", Allow },
    { "name_to_handle_at", Allow }, { "newfstatat", Allow }, { "open", Allow }, { "openat", Allow },
    { "openat2", Allow }, { "pread64", Allow }, { "preadv", Allow }, { "preadv2", Allow },
    { "pwrite64", Allow }, { "pwritev", Allow }, { "pwritev2", Allow }, { "read", Allow },
    { "readahead", Allow }, { "readlink", Allow }, { "readlinkat", Allow }, { "readv", Allow },
    { "removexattr", Allow }, { "rename", Allow }, { "renameat", Allow }, { "renameat2", Allow },
    { "rmdir", Allow }, { "sendfile", Allow }, { "setxattr", Allow }, { "splice", Allow },
    { "stat", Allow }, { "statfs", Allow }, { "statx", Allow }, { "symlink", Allow },
    { "symlinkat", Allow }, { "sync", Allow }, { "sync_file_range", Allow }, { "syncfs", Allow },
    { "tee", Allow }, { "truncate", Allow }, { "umask", Allow }, { "unlink", Allow },
    { "unlinkat", Allow }, { "utime", Allow }, { "utimensat", Allow }, { "utimes", Allow },
    { "vmsplice", Allow }, { "write", Allow }, { "writev", Allow }, { "chroot", Allow },
    { "fanotify_mark", Allow },
    // Event notification and asynchronous I/O (not io_uring, see below).
    { "epoll_create", Allow }, { "epoll_create1", Allow }, { "epoll_ctl", Allow }, { "epoll_pwait", Allow },
    { "epoll_pwait2", Allow }, { "epoll_wait", Allow }, { "eventfd", Allow }, { "eventfd2", Allow },
    { "io_cancel", Allow }, { "io_destroy", Allow }, { "io_getevents", Allow }, { "io_pgetevents", Allow },
    { "io_setup", Allow }, { "io_submit", Allow }, { "poll", Allow }, { "ppoll", Allow },
    { "pselect6", Allow }, { "select", Allow }, { "signalfd", Allow }, { "signalfd4", Allow },
    { "timerfd_create", Allow }, { "timerfd_gettime", Allow }, { "timerfd_settime", Allow },
    // Memory.
    { "brk", Allow }, { "madvise", Allow }, { "membarrier", Allow }, { "memfd_create", Allow },
    { "mincore", Allow }, { "mlock", Allow }, { "mlock2", Allow }, { "mlockall", Allow },
    { "mmap", Allow }, { "mprotect", Allow }, { "mremap", Allow }, { "msync", Allow },
    { "munlock", Allow }, { "munlockall", Allow }, { "munmap", Allow }, { "pkey_alloc", Allow },
    { "pkey_free", Allow }, { "pkey_mprotect", Allow }, { "remap_file_pages", Allow },
    { "get_mempolicy", Allow }, { "mbind", Allow }, { "set_mempolicy", Allow },
    // Processes, threads and signals.
    { "arch_prctl", Allow }, { "capget", Allow }, { "capset", Allow }, { "execve", Allow },
    { "execveat", Allow }, { "exit", Allow }, { "exit_group", Allow }, { "fork", Allow },
    { "futex", Allow }, { "futex_waitv", Allow }, { "get_robust_list", Allow }, { "get_thread_area", Allow },
    { "getcpu", Allow }, { "getegid", Allow }, { "geteuid", Allow }, { "getgid", Allow },
    { "getgroups", Allow }, { "getitimer", Allow }, { "getpgid", Allow }, { "getpgrp", Allow },
    { "getpid", Allow }, { "getppid", Allow }, { "getpriority", Allow }, { "getresgid", Allow },
    { "getresuid", Allow }, { "getrlimit", Allow }, { "getrusage", Allow }, { "getsid", Allow },
    { "gettid", Allow }, { "getuid", Allow }, { "ioprio_get", Allow }, { "ioprio_set", Allow },
    { "kill", Allow }, { "pause", Allow }, { "pidfd_open", Allow }, { "pidfd_send_signal", Allow },
    { "prctl", Allow }, { "prlimit64", Allow }, { "process_mrelease", Allow }, { "ptrace", Allow },
    { "process_vm_readv", Allow }, { "process_vm_writev", Allow }, { "restart_syscall", Allow }, { "rseq", Allow },
    { "rt_sigaction", Allow }, { "rt_sigpending", Allow }, { "rt_sigprocmask", Allow }, { "rt_sigqueueinfo", Allow },
    { "rt_sigreturn", Allow }, { "rt_sigsuspend", Allow }, { "rt_sigtimedwait", Allow }, { "rt_tgsigqueueinfo", Allow },
    { "sched_get_priority_max", Allow }, { "sched_get_priority_min", Allow }, { "sched_getaffinity", Allow }, { "sched_getattr", Allow },
    { "sched_getparam", Allow }, { "sched_getscheduler", Allow }, { "sched_rr_get_interval", Allow }, { "sched_setaffinity", Allow },
    { "sched_setattr", Allow }, { "sched_setparam", Allow }, { "sched_setscheduler", Allow }, { "sched_yield", Allow },
    { "seccomp", Allow }, { "set_robust_list", Allow }, { "set_thread_area", Allow }, { "set_tid_address", Allow },
    { "setfsgid", Allow }, { "setfsuid", Allow }, { "setgid", Allow }, { "setgroups", Allow },
    { "setitimer", Allow }, { "setpgid", Allow }, { "setpriority", Allow }, { "setregid", Allow },
    { "setresgid", Allow }, { "setresuid", Allow }, { "setreuid", Allow }, { "setrlimit", Allow },
    { "setsid", Allow }, { "setuid", Allow }, { "sigaltstack", Allow }, { "tgkill", Allow },
    { "tkill", Allow }, { "vfork", Allow }, { "wait4", Allow }, { "waitid", Allow },
    { "sethostname", Allow }, { "setdomainname", Allow },
    // Time.
    { "alarm", Allow }, { "clock_getres", Allow }, { "clock_gettime", Allow }, { "clock_nanosleep", Allow },
    { "gettimeofday", Allow }, { "nanosleep", Allow }, { "time", Allow }, { "timer_create", Allow },
    { "timer_delete", Allow }, { "timer_getoverrun", Allow }, { "timer_gettime", Allow }, { "timer_settime", Allow },
    { "times", Allow },
    // Sockets and System V / POSIX IPC (isolated by the network and IPC namespaces).
    { "accept", Allow }, { "accept4", Allow }, { "bind", Allow }, { "connect", Allow },
    { "getpeername", Allow }, { "getsockname", Allow }, { "getsockopt", Allow }, { "listen", Allow },
    { "recvfrom", Allow }, { "recvmmsg", Allow }, { "recvmsg", Allow }, { "sendmmsg", Allow },
    { "sendmsg", Allow }, { "sendto", Allow }, { "setsockopt", Allow }, { "shutdown", Allow },
    { "socket", Allow }, { "socketpair", Allow }, { "pipe", Allow }, { "pipe2", Allow },
    { "mq_getsetattr", Allow }, { "mq_notify", Allow }, { "mq_open", Allow }, { "mq_timedreceive", Allow },
    { "mq_timedsend", Allow }, { "mq_unlink", Allow }, { "msgctl", Allow }, { "msgget", Allow },
    { "msgrcv", Allow }, { "msgsnd", Allow }, { "semctl", Allow }, { "semget", Allow },
    { "semop", Allow }, { "semtimedop", Allow }, { "shmat", Allow }, { "shmctl", Allow },
    { "shmdt", Allow }, { "shmget", Allow },
    // System information.
    { "getrandom", Allow }, { "sysinfo", Allow }, { "uname", Allow },
    { "landlock_add_rule", Allow }, { "landlock_create_ruleset", Allow }, { "landlock_restrict_self", Allow },

    // Denied with EPERM: they reach past the container into the host kernel.
    { "kexec_load", Deny }, { "kexec_file_load", Deny }, { "reboot", Deny },
    { "init_module", Deny }, { "finit_module", Deny }, { "delete_module", Deny },
    { "create_module", Deny }, { "get_kernel_syms", Deny }, { "query_module", Deny },
    { "bpf", Deny }, { "perf_event_open", Deny }, { "userfaultfd", Deny },
    { "keyctl", Deny }, { "add_key", Deny }, { "request_key", Deny },
    { "mount", Deny }, { "umount2", Deny }, { "pivot_root", Deny }, { "fsopen", Deny },
    { "fsconfig", Deny }, { "fsmount", Deny }, { "fspick", Deny }, { "move_mount", Deny },
    { "open_tree", Deny }, { "mount_setattr", Deny },
    { "unshare", Deny }, { "setns", Deny }, { "open_by_handle_at", Deny },
    { "swapon", Deny }, { "swapoff", Deny }, { "acct", Deny }, { "quotactl", Deny },
    { "quotactl_fd", Deny }, { "settimeofday", Deny }, { "clock_settime", Deny }, { "clock_adjtime", Deny },
    { "adjtimex", Deny }, { "iopl", Deny }, { "ioperm", Deny }, { "syslog", Deny },
    { "lookup_dcookie", Deny }, { "nfsservctl", Deny }, { "uselib", Deny }, { "ustat", Deny },
    { "sysfs", Deny }, { "_sysctl", Deny }, { "vhangup", Deny }, { "kcmp", Deny },
    { "pidfd_getfd", Deny }, { "fanotify_init", Deny }, { "modify_ldt", Deny },
    { "io_uring_setup", Deny }, { "io_uring_enter", Deny }, { "io_uring_register", Deny },
};

// The execution domains Docker allows: PER_LINUX, PER_LINUX32, UNAME26
// variants and the query value 0xffffffff.
constexpr uint64_t allowed_personalities[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };

constexpr uint64_t namespace_clone_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
    | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;

void add_conditional_rules(scmp_filter_ctx context)
{
    // clone without namespace flags only: new namespaces are the runtime's business.
    check_seccomp(seccomp_rule_add(context, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, namespace_clone_flags, 0)), "clone rule");
    for (uint64_t flag = 1; flag != 0; flag <<= 1) {
        if (namespace_clone_flags & flag)
            check_seccomp(seccomp_rule_add(context, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)), "clone rule");
    }
    for (auto persona : allowed_personalities)
        check_seccomp(seccomp_rule_add(context, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1, SCMP_A0(SCMP_CMP_EQ, persona)), "personality rule");
}

}

std::span<SeccompRule const> seccomp_profile()
{
    return profile;
}

std::vector<sock_filter> compile_seccomp_profile()
{
    SeccompFilter filter(SCMP_ACT_ERRNO(ENOSYS));
    check_seccomp(seccomp_attr_set(filter.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), "bad-architecture action");
    // A binary tree keeps the filter short for a list this long.
    check_seccomp(seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2), "optimize");
    for (auto const& rule : profile) {
        int number = seccomp_syscall_resolve_name(rule.name);
        if (number == __NR_SCMP_ERROR)
            continue;
        auto action = rule.action == SeccompAction::Allow ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EPERM);
        check_seccomp(seccomp_rule_add(filter.get(), action, number, 0), rule.name);
    }
    add_conditional_rules(filter.get());

    return filter.export_program();
}

void load_seccomp_program(std::span<sock_filter const> program)
{
    sock_fprog header {};
    header.len = static_cast<unsigned short>(program.size());
    header.filter = const_cast<sock_filter*>(program.data());
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &header) < 0)
        throw_system_error("seccomp", "(load filter)");
}

}
