#include "container/Namespaces.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "common/cgroup/Cgroup.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vmm::container {

namespace {

// struct clone_args of <linux/sched.h>, which clashes with <sched.h>.
struct CloneArguments {
    uint64_t flags;
    uint64_t pidfd;
    uint64_t child_tid;
    uint64_t parent_tid;
    uint64_t exit_signal;
    uint64_t stack;
    uint64_t stack_size;
    uint64_t tls;
    uint64_t set_tid;
    uint64_t set_tid_size;
    uint64_t cgroup;
};

constexpr uint64_t clone_into_cgroup = 0x200000000ULL; // CLONE_INTO_CGROUP

// A child with SIGCHLD as its exit signal, in the cgroup v2 `cgroup_fd`
// where that is not -1.
CloneArguments clone_arguments(uint64_t flags, int cgroup_fd)
{
    CloneArguments arguments {};
    arguments.flags = flags;
    if (cgroup_fd >= 0) {
        arguments.flags |= clone_into_cgroup;
        arguments.cgroup = static_cast<uint64_t>(cgroup_fd);
    }
    arguments.exit_signal = SIGCHLD;
    return arguments;
}

}

// clone3() whose child calls child(argument) on the stack the arguments
// give it and exits with what that returns; the caller gets the child's
// PID or -errno. glibc has no such wrapper for programs (its own is
// internal), and a child cannot return from the system call into a C++
// frame on another stack: it starts here, in the instructions after it.
extern "C" long vmm_clone3_with_function(CloneArguments* arguments, size_t size, int (*child)(void*), void* argument);

#if defined(__x86_64__)
asm(R"(
    .text
    .globl vmm_clone3_with_function
    .hidden vmm_clone3_with_function
    .type vmm_clone3_with_function, @function
vmm_clone3_with_function:
    mov %rcx, %r8           # The argument: the system call itself clobbers rcx.
    mov $435, %eax          # __NR_clone3
    syscall
    test %rax, %rax
    jz 1f
    ret                     # The parent, or -errno.
1:  xor %ebp, %ebp          # The child, on its new stack: no frame above it.
    mov %r8, %rdi
    call *%rdx
    mov %eax, %edi
    mov $60, %eax           # __NR_exit
    syscall
    hlt
    .size vmm_clone3_with_function, .-vmm_clone3_with_function
)");
#elif defined(__aarch64__)
asm(R"(
    .text
    .globl vmm_clone3_with_function
    .hidden vmm_clone3_with_function
    .type vmm_clone3_with_function, %function
vmm_clone3_with_function:
    mov x8, #435            // __NR_clone3
    svc #0
    cbz x0, 1f
    ret                     // The parent, or -errno.
1:  mov x29, #0             // The child, on its new stack: no frame above it.
    mov x30, #0
    mov x0, x3
    blr x2
    mov x8, #93             // __NR_exit
    svc #0
    brk #0
    .size vmm_clone3_with_function, .-vmm_clone3_with_function
)");
#else
#error "vmm_clone3_with_function is written for x86-64 and aarch64"
#endif

uint64_t namespace_clone_flags(NetworkMode network, UserNamespace user_namespace)
{
    uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
    if (network != NetworkMode::Host)
        flags |= CLONE_NEWNET;
    if (user_namespace == UserNamespace::Yes)
        flags |= CLONE_NEWUSER;
    return flags;
}

uint64_t namespace_clone_flags(ContainerSpec const& spec)
{
    uint64_t flags = 0;
    for (auto const& space : spec.namespaces) {
        if (!space.path.empty())
            continue;
        switch (space.type) {
        case NamespaceType::Mount:
            flags |= CLONE_NEWNS;
            break;
        case NamespaceType::Pid:
            flags |= CLONE_NEWPID;
            break;
        case NamespaceType::Uts:
            flags |= CLONE_NEWUTS;
            break;
        case NamespaceType::Ipc:
            flags |= CLONE_NEWIPC;
            break;
        case NamespaceType::Network:
            flags |= CLONE_NEWNET;
            break;
        case NamespaceType::User:
            flags |= CLONE_NEWUSER;
            break;
        case NamespaceType::Time:
            flags |= CLONE_NEWTIME;
            break;
        case NamespaceType::Cgroup:
            break;
        }
    }
    return flags;
}

pid_t clone_into_namespaces(uint64_t flags, int cgroup_fd)
{
    auto arguments = clone_arguments(flags, cgroup_fd);
    auto pid = static_cast<pid_t>(::syscall(SYS_clone3, &arguments, sizeof(arguments)));
    if (pid < 0)
        throw_system_error("clone3", "(new namespaces)");
    return pid;
}

pid_t clone_sharing_memory(uint64_t flags, int cgroup_fd, int (*child)(void*), void* argument)
{
    // The child runs on this thread's stack, below this call's frame and
    // the trampoline's, while this thread waits: the part of the stack that
    // vmm's earlier, deeper calls used, so that its pages are there already
    // (the first touch of a page costs a new process a fault, some 15 us on
    // a PVM guest). The main thread's stack grows on demand below it too,
    // where a thread's fixed stack would end.
    constexpr uintptr_t frames_kept = 16 * 1024;
    constexpr uintptr_t stack_size = 1024 * 1024; // What the kernel is told; the stack may grow further.
    auto const frame = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    auto const stack_top = (frame - frames_kept) & ~uintptr_t(63);
    auto arguments = clone_arguments(flags | CLONE_VM | CLONE_VFORK, cgroup_fd);
    arguments.stack = stack_top - stack_size;
    arguments.stack_size = stack_size;
    long const result = vmm_clone3_with_function(&arguments, sizeof(arguments), child, argument);
    if (result < 0) {
        errno = static_cast<int>(-result);
        throw_system_error("clone3", "(new namespaces, sharing memory)");
    }
    return static_cast<pid_t>(result);
}

void write_id_maps(pid_t child, IdMapping const& mapping)
{
    auto directory = fmt::format("/proc/{}", child);
    if (::geteuid() != 0)
        write_control_file(directory + "/setgroups", "deny");
    write_control_file(directory + "/uid_map", fmt::format("0 {} {}\n", mapping.users.first, mapping.users.count));
    write_control_file(directory + "/gid_map", fmt::format("0 {} {}\n", mapping.groups.first, mapping.groups.count));
}

void write_id_maps(pid_t child, std::vector<IdMapEntry> const& users, std::vector<IdMapEntry> const& groups)
{
    auto directory = fmt::format("/proc/{}", child);
    auto format = [](std::vector<IdMapEntry> const& entries) {
        std::string text;
        for (auto const& entry : entries)
            text += fmt::format("{} {} {}\n", entry.container_id, entry.host_id, entry.size);
        return text;
    };
    if (::geteuid() != 0)
        write_control_file(directory + "/setgroups", "deny");
    if (!users.empty())
        write_control_file(directory + "/uid_map", format(users));
    if (!groups.empty())
        write_control_file(directory + "/gid_map", format(groups));
}

FileDescriptor create_user_namespace(IdMapping const& mapping)
{
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) < 0)
        throw_system_error("pipe2", "(user namespace)");
    FileDescriptor read_end(pipe_fds[0]);
    FileDescriptor write_end(pipe_fds[1]);
    pid_t pid = clone_into_namespaces(CLONE_NEWUSER);
    if (pid == 0) {
        // Waits until the parent has what it needs (end of file), then goes.
        char byte;
        write_end.reset();
        while (::read(read_end.get(), &byte, 1) < 0 && errno == EINTR) { }
        ::_exit(0);
    }
    auto reap = [&] {
        write_end.reset();
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) { }
    };
    try {
        write_id_maps(pid, mapping);
        auto user_namespace = FileDescriptor::open(fmt::format("/proc/{}/ns/user", pid), O_RDONLY);
        reap();
        return user_namespace;
    } catch (...) {
        reap();
        throw;
    }
}

void bring_up_loopback()
{
    FileDescriptor socket(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!socket.is_valid())
        throw_system_error("socket", "(loopback)");
    ifreq request {};
    std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(socket.get(), SIOCGIFFLAGS, &request) < 0)
        throw_system_error("ioctl SIOCGIFFLAGS", "lo");
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP | IFF_RUNNING);
    if (::ioctl(socket.get(), SIOCSIFFLAGS, &request) < 0)
        throw_system_error("ioctl SIOCSIFFLAGS", "lo");
}

}
