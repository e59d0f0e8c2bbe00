#include "vmm/sandbox/Sandbox.h"

#include "common/Error.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vmm::sandbox {

namespace {

thread_local ThreadKind t_thread_kind = ThreadKind::Io;

// Appends `text` to the buffer at `end`; async-signal-safe.
char* append(char* end, char const* limit, char const* text)
{
    while (*text && end < limit)
        *end++ = *text++;
    return end;
}

char* append_number(char* end, char const* limit, long number)
{
    char digits[24];
    int count = 0;
    unsigned long value = number < 0 ? 0ul - static_cast<unsigned long>(number) : static_cast<unsigned long>(number);
    do {
        digits[count++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value != 0 && count < 23);
    if (number < 0 && end < limit)
        *end++ = '-';
    while (count > 0 && end < limit)
        *end++ = digits[--count];
    return end;
}

// SIGSYS from a filter's SECCOMP_RET_TRAP: says which thread made which
// call, then ends vmm as SIGSYS would. Only async-signal-safe calls (and
// ones every filter allows: write, exit_group).
void report_forbidden_syscall(int, siginfo_t* info, void*)
{
    char message[256];
    char const* limit = message + sizeof(message) - 1;
    char* end = append(message, limit, "vmm: seccomp: the ");
    end = append(end, limit, thread_kind_name(t_thread_kind));
    end = append(end, limit, " thread made a forbidden system call, ");
    end = append(end, limit, syscall_name(info->si_syscall));
    end = append(end, limit, " (");
    end = append_number(end, limit, info->si_syscall);
    end = append(end, limit, "); vmm stops\n");
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, message, static_cast<size_t>(end - message));
    ::syscall(SYS_exit_group, forbidden_syscall_exit_status);
}

void drop_capabilities()
{
    // Ambient capabilities would survive everything below; EINVAL: a kernel without them.
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        throw_system_error("prctl", "PR_CAP_AMBIENT_CLEAR_ALL");
    // The bounding set needs CAP_SETPCAP to shrink; without it (an
    // unprivileged vmm) there is nothing in the sets below to give up anyway.
    for (unsigned long capability = 0; ::prctl(PR_CAPBSET_READ, capability, 0, 0, 0) >= 0; ++capability) {
        if (::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 && errno != EPERM)
            throw_system_error("prctl", fmt::format("PR_CAPBSET_DROP {}", capability));
    }
    __user_cap_header_struct header { _LINUX_CAPABILITY_VERSION_3, 0 };
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] {};
    if (::syscall(SYS_capset, &header, data) != 0)
        throw_system_error("capset", "(drop all capabilities)");
}

#ifdef VMM_SECCOMP_TEST_HOOK
// Tests only (not in release builds): VMM_TEST_FORBIDDEN_SYSCALL=vcpu, io or blk-queue
// makes that thread kind open /etc/passwd once its filter is in place.
void run_test_hook(ThreadKind kind)
{
    char const* wanted = std::getenv("VMM_TEST_FORBIDDEN_SYSCALL");
    char const* token = kind == ThreadKind::Vcpu ? "vcpu" : kind == ThreadKind::BlockQueue ? "blk-queue" : "io";
    if (!wanted || std::strcmp(wanted, token) != 0)
        return;
    char const announcement[] = "vmm: test hook: this thread opens /etc/passwd\n";
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, announcement, sizeof(announcement) - 1);
    int const fd = ::open("/etc/passwd", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        ::close(fd);
}
#endif

}

void prepare_process()
{
    struct sigaction action {};
    action.sa_sigaction = report_forbidden_syscall;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (::sigaction(SIGSYS, &action, nullptr) != 0)
        throw_system_error("sigaction", "SIGSYS");
    // Needed to load filters without CAP_SYS_ADMIN, and what vmm wants anyway.
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        throw_system_error("prctl", "PR_SET_NO_NEW_PRIVS");
    drop_capabilities();
}

void confine_thread(ThreadKind kind)
{
    auto const program = precompiled_boot_filter(kind);
    sock_fprog header {};
    header.len = static_cast<unsigned short>(program.size());
    header.filter = const_cast<sock_filter*>(program.data());
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &header) != 0)
        throw_system_error("seccomp", fmt::format("(the {} thread's filter)", thread_kind_name(kind)));
    t_thread_kind = kind;
#ifdef VMM_SECCOMP_TEST_HOOK
    run_test_hook(kind);
#endif
}

}
