#include "container/ContainerInit.h"

#include "common/Error.h"
#include "common/FdPassing.h"
#include "common/FileDescriptor.h"
#include "common/ParentDeath.h"
#include "container/Capabilities.h"
#include "container/CgroupView.h"
#include "container/ContainerTerminal.h"
#include "container/Hooks.h"
#include "container/InitProgram.h"
#include "container/ProcessSetup.h"
#include "container/SeccompProfile.h"
#include "guest/protocol.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/close_range.h>
#include <sched.h>
#include <string>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace vmm::container {

namespace {

// argv[0] of the container's PID 1 when it is vmm's init, run from vmm's memfd.
constexpr char const* init_name = "vmm-init";

// Reads one byte; false at end of file (the writer is gone).
bool wait_for_byte(int fd)
{
    char byte = 0;
    for (;;) {
        ssize_t length = ::read(fd, &byte, 1);
        if (length == 1)
            return true;
        if (length < 0 && errno == EINTR)
            continue;
        return false;
    }
}

// vmm-init takes the signals vmm held blocked for it (SignalProxy::
// HeldForChild) from its wait loop, keeping them blocked; any other program
// starts with nothing blocked, as runc starts it.
void reset_signals(InitKind init_kind)
{
    if (init_kind != InitKind::Embedded) {
        sigset_t empty;
        sigemptyset(&empty);
        ::sigprocmask(SIG_SETMASK, &empty, nullptr);
    }
    // Handlers are reset by execve; the forwarding ones must not run here.
    for (int signal_number : { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE })
        ::signal(signal_number, SIG_DFL);
}

int namespace_flag(NamespaceType type)
{
    switch (type) {
    case NamespaceType::Mount:
        return CLONE_NEWNS;
    case NamespaceType::Pid:
        return CLONE_NEWPID;
    case NamespaceType::Uts:
        return CLONE_NEWUTS;
    case NamespaceType::Ipc:
        return CLONE_NEWIPC;
    case NamespaceType::Network:
        return CLONE_NEWNET;
    case NamespaceType::User:
        return CLONE_NEWUSER;
    case NamespaceType::Cgroup:
        return CLONE_NEWCGROUP;
    case NamespaceType::Time:
        return CLONE_NEWTIME;
    }
    return 0;
}

// Joins the namespaces the spec names by path: the user namespace first
// (it owns the others), the PID one was joined by the parent before the clone.
void join_namespaces(ContainerSpec const& spec)
{
    for (int pass = 0; pass < 2; ++pass) {
        for (auto const& space : spec.namespaces) {
            if (space.path.empty() || space.type == NamespaceType::Pid)
                continue;
            if ((space.type == NamespaceType::User) != (pass == 0))
                continue;
            auto fd = FileDescriptor::open(space.path, O_RDONLY);
            if (::setns(fd.get(), namespace_flag(space.type)) < 0)
                throw_system_error("setns", space.path);
        }
    }
}

void make_cgroup_namespace()
{
    if (::unshare(CLONE_NEWCGROUP) < 0)
        throw_system_error("unshare", "(cgroup namespace)");
}

// The overlay the parent mounted for the root (ParentMakes::Overlay).
FileDescriptor receive_overlay(int prepared_fd)
{
    auto fds = receive_byte_with_fds(prepared_fd, "(container set-up socket)");
    if (!fds)
        ::_exit(1); // The parent failed (its own message says why) and kills us.
    if (fds->size() != 1)
        throw Error("the parent sent no overlay for the root");
    return std::move(fds->front());
}

// The container dies with vmm: SIGKILL when its parent goes, armed again
// after each change of credentials (the switch to a user namespace's root,
// which turns host root into the mapped id; the switch to the process's
// user), which clears it.
void arm_parent_death_signal(ContainerInitContext const& context)
{
    if (context.parent_death == ParentDeath::KillsContainer)
        die_with_parent(context.parent_pidfd);
}

// In a new user namespace the set-up runs as its root, which the parent mapped.
void become_namespace_root()
{
    if (::setresgid(0, 0, 0) < 0)
        throw_system_error("setresgid 0", "(user namespace)");
    if (::setresuid(0, 0, 0) < 0)
        throw_system_error("setresuid 0", "(user namespace)");
}

std::vector<char*> pointers(std::vector<std::string>& strings)
{
    std::vector<char*> result;
    for (auto& string : strings)
        result.push_back(string.data());
    result.push_back(nullptr);
    return result;
}

[[noreturn]] void set_up_and_exec(ContainerInitContext const& context)
{
    auto const& spec = context.spec;
    auto const& process = spec.process;
    arm_parent_death_signal(context);
    // A session of its own, without a controlling terminal: the host's
    // terminal cannot be driven from inside (TIOCSTI needs it as the
    // caller's controlling terminal), and kill(0, ...) reaches only the
    // container's own process group.
    if (::setsid() < 0)
        throw_system_error("setsid", "(container init)");
    // Into the cgroup before anything of the container's runs, so that all
    // it does is limited and accounted; it becomes the cgroup namespace's
    // root. The set-up before a late join is vmm's own.
    if (context.cgroup)
        context.cgroup->join_from_child();
    join_namespaces(spec);
    bool const new_cgroup_namespace = spec.makes_namespace(NamespaceType::Cgroup);
    if (new_cgroup_namespace && context.cgroup_join == CgroupJoin::First)
        make_cgroup_namespace();

    // The parent writes the id maps of a new user namespace and runs the
    // prestart and createRuntime hooks; then it says go. A child that
    // shares its memory has nothing to wait for, and (without a user
    // namespace) reaches its directory rootfs by its path.
    std::string hook_state;
    if (context.memory == ChildMemory::Copied) {
        if (!wait_for_byte(context.sync_fd))
            ::_exit(1); // The parent gave up (or died) before the container was ready.
        hook_state = read_all(context.sync_fd);
        ::close(context.sync_fd);
        if (spec.find_namespace(NamespaceType::Mount))
            open_root_directory(context.root);
    }
    if (context.user_namespace == UserNamespace::Yes) {
        become_namespace_root();
        arm_parent_death_signal(context);
    }
    // No ptrace or /proc/PID access from the container while the runtime's
    // memory is still mapped here (CVE-2016-9962); execve resets it. Not
    // earlier: an unprivileged parent could then not write our id maps.
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        throw_system_error("prctl PR_SET_DUMPABLE");

    if (spec.makes_namespace(NamespaceType::Uts) && !spec.hostname.empty()) {
        if (::sethostname(spec.hostname.data(), spec.hostname.size()) < 0)
            throw_system_error("sethostname", spec.hostname);
    }
    if (spec.makes_namespace(NamespaceType::Network))
        bring_up_loopback();

    std::vector<DetachedMount> mounts;
    if (auto const* mount_namespace = spec.find_namespace(NamespaceType::Mount); mount_namespace) {
        ::umask(0);
        mounts = make_container_mounts(spec, context.user_namespace);
        if (context.parent_makes == ParentMakes::Overlay)
            context.root.overlay_mount = receive_overlay(context.prepared_fd);
        enter_root_filesystem(context.root, spec, mounts, context.user_namespace, [&] {
            run_hooks(spec.hooks.create_container, "createContainer", hook_state);
        });
        ::umask(022);
    }

    // Meanwhile a parent that goes on after the clone wrote the cgroup (its
    // limits and device rules; a v1 one it made, and its tasks files come
    // with the byte) and filled and sealed init's memfd. Nothing of the
    // container's runs before its byte: without it (the parent failed and
    // kills us) no unlimited process or unsealed init can start.
    if (context.memory == ChildMemory::Copied) {
        auto const cgroup_task_files = receive_byte_with_fds(context.prepared_fd, "(container set-up socket)");
        if (!cgroup_task_files)
            ::_exit(1);
        ::close(context.prepared_fd);
        if (context.cgroup_join == CgroupJoin::WithPreparedByte) {
            if (cgroup_task_files->empty())
                throw Error("the parent sent no cgroup to join");
            join_through_task_files(*cgroup_task_files);
            if (new_cgroup_namespace)
                make_cgroup_namespace();
        }
    }
    mount_cgroup_v1_hierarchies(spec, mounts);

    if (context.terminal_fd >= 0)
        attach_container_terminal(context.terminal_fd);

    std::vector<std::string> arguments;
    std::string executable;
    std::vector<std::string> environment = spec.init_kind == InitKind::Embedded ? process.env : process_environment(process);
    if (spec.init_kind == InitKind::Embedded) {
        arguments = { init_name, VMM_CONTAINER_OPTION, fmt::format("{}{}", VMM_MARKER_FD_OPTION, context.marker_fd) };
        arguments.insert(arguments.end(), spec.init_options.begin(), spec.init_options.end());
        arguments.push_back("--");
        arguments.insert(arguments.end(), process.args.begin(), process.args.end());
    } else {
        executable = find_executable(process);
        arguments = process.args;
    }
    if (::chdir(process.cwd.c_str()) < 0)
        throw_system_error("chdir", fmt::format("{} (process.cwd)", process.cwd));
    if (process.umask)
        ::umask(*process.umask);
    apply_resource_limits(process.rlimits);
    if (process.oom_score_adj)
        set_oom_score_adjustment(*process.oom_score_adj);

    // Without no_new_privs, loading the filter needs CAP_SYS_ADMIN, which
    // the process may be about to lose: it is loaded first then (runc's order).
    bool const filter_first = !process.no_new_privileges && !context.seccomp_program.empty();
    if (filter_first)
        load_seccomp_program(context.seccomp_program);
    limit_bounding_set(process.capabilities.bounding);
    switch_user(process);
    apply_capability_sets(process.capabilities);
    arm_parent_death_signal(context);
    if (process.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        throw_system_error("prctl PR_SET_NO_NEW_PRIVS");

    // Every fd above 2 (the error pipe included) closes on execve, so none
    // of the host's reaches the container (CVE-2024-21626), but those the
    // caller preserved (LISTEN_FDS) and init's boot-marker pipe.
    if (::syscall(SYS_close_range, 3u + static_cast<unsigned>(context.preserve_fds), ~0u, CLOSE_RANGE_CLOEXEC) < 0)
        throw_system_error("close_range");
    if (context.marker_fd >= 0 && ::fcntl(context.marker_fd, F_SETFD, 0) < 0)
        throw_system_error("fcntl F_SETFD", "(boot marker pipe)");
    reset_signals(spec.init_kind);

    if (context.start_fd >= 0) {
        // Set up: create returns now; start's byte lets the process go. The
        // byte says so, where a bare close could also be this process dying
        // (its memory limit's out-of-memory kill, a signal) before here.
        char const ready = created_and_waiting;
        write_all(context.error_fd, &ready, 1);
        ::close(context.error_fd);
        if (!wait_for_byte(context.start_fd))
            ::_exit(1);
        ::close(context.start_fd);
        try {
            run_hooks(spec.hooks.start_container, "startContainer", hook_state);
        } catch (Error const& error) {
            ::dprintf(STDERR_FILENO, "vmm: %s\n", error.what());
            ::_exit(1);
        }
    }
    if (!filter_first && !context.seccomp_program.empty())
        load_seccomp_program(context.seccomp_program);
    auto argv = pointers(arguments);
    auto envp = pointers(environment);
    if (spec.init_kind == InitKind::Embedded) {
        execute_init_program(context.init_program_fd, argv.data(), envp.data());
        throw_system_error("execveat", "vmm-init (memfd)");
    }
    ::execve(executable.c_str(), argv.data(), envp.data());
    if (context.start_fd >= 0) {
        ::dprintf(STDERR_FILENO, "vmm: exec %s: %s\n", executable.c_str(), std::strerror(errno));
        ::_exit(127);
    }
    throw_system_error("exec", executable);
}

}

void become_container_init(ContainerInitContext const& context)
{
    std::string message;
    try {
        set_up_and_exec(context);
    } catch (std::exception const& error) {
        message = error.what();
    }
    write_all(context.error_fd, message.data(), message.size());
    ::_exit(1);
}

}
