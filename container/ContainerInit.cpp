#include "container/ContainerInit.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "guest/protocol.h"
#include "container/Capabilities.h"
#include "container/ContainerTerminal.h"
#include "container/InitProgram.h"
#include "container/SeccompProfile.h"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <linux/close_range.h>
#include <sched.h>
#include <string>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <grp.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace vmm::container {

namespace {

// argv[0] of the container's PID 1, which runs from vmm's memfd.
constexpr char const* init_name = "vmm-init";
constexpr char const* default_path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

void wait_for_parent(int sync_fd)
{
    char byte = 0;
    for (;;) {
        ssize_t length = ::read(sync_fd, &byte, 1);
        if (length == 1)
            return;
        if (length < 0 && errno == EINTR)
            continue;
        // The parent gave up (or died) before the container was ready.
        ::_exit(1);
    }
}

std::vector<std::string> minimal_environment(ContainerOptions const& options)
{
    std::vector<std::string> environment { default_path, "HOME=/root", "HOSTNAME=" + options.hostname };
    if (char const* terminal = std::getenv("TERM"))
        environment.push_back(std::string("TERM=") + terminal);
    return environment;
}

void reset_signals()
{
    sigset_t empty;
    sigemptyset(&empty);
    ::sigprocmask(SIG_SETMASK, &empty, nullptr);
    // Handlers are reset by execve; the forwarding ones must not run here.
    for (int signal_number : { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE })
        ::signal(signal_number, SIG_DFL);
}

// A caller that mapped itself (its own uid) is the namespace's root already;
// root, which maps a range of other ids, becomes it by switching to 0, and
// leaves the host's supplementary groups behind where setgroups is allowed.
void become_namespace_root()
{
    if (::setgroups(0, nullptr) < 0 && errno != EPERM)
        throw_system_error("setgroups", "(user namespace)");
    if (::setresgid(0, 0, 0) < 0)
        throw_system_error("setresgid 0", "(user namespace)");
    if (::setresuid(0, 0, 0) < 0)
        throw_system_error("setresuid 0", "(user namespace)");
}

[[noreturn]] void set_up_and_exec(ContainerInitContext const& context)
{
    auto const& options = context.options;
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        throw_system_error("prctl PR_SET_PDEATHSIG");
    // A session of its own, without a controlling terminal: the host's
    // terminal cannot be driven from inside (TIOCSTI needs it as the
    // caller's controlling terminal), and kill(0, ...) reaches only the
    // container's own process group.
    if (::setsid() < 0)
        throw_system_error("setsid", "(container init)");
    // Into the cgroup before anything else, so that all the container does
    // is limited and accounted; it becomes the cgroup namespace's root.
    if (context.cgroup)
        context.cgroup->join_from_child();
    if (::unshare(CLONE_NEWCGROUP) < 0)
        throw_system_error("unshare", "(cgroup namespace)");

    // In a user namespace, files can be created once the parent has
    // written our uid/gid maps; on a bridge, the parent configures eth0
    // before the command can use the network.
    if (context.user_namespace == UserNamespace::Yes || options.network == NetworkMode::Bridge)
        wait_for_parent(context.sync_fd);
    if (context.user_namespace == UserNamespace::Yes)
        become_namespace_root();
    ::close(context.sync_fd);
    // No ptrace or /proc/PID access from the container while the runtime's
    // memory is still mapped here (CVE-2016-9962); execve resets it. Not
    // earlier: an unprivileged parent could then not write our id maps.
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        throw_system_error("prctl PR_SET_DUMPABLE");

    if (::sethostname(options.hostname.data(), options.hostname.size()) < 0)
        throw_system_error("sethostname", options.hostname);
    if (options.network != NetworkMode::Host)
        bring_up_loopback();

    ::umask(0);
    enter_root_filesystem(context.root, options.network, context.user_namespace);
    ::umask(022);

    if (context.terminal_fd >= 0)
        attach_container_terminal(context.terminal_fd);

    std::vector<std::string> arguments { init_name, fmt::format("{}{}", VMM_MARKER_FD_OPTION, context.marker_fd), "--" };
    arguments.insert(arguments.end(), options.command.begin(), options.command.end());
    auto environment = minimal_environment(options);
    std::vector<char*> argv;
    for (auto& argument : arguments)
        argv.push_back(argument.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& variable : environment)
        envp.push_back(variable.data());
    envp.push_back(nullptr);

    drop_capabilities(context.device_creation);
    // Every fd above 2 (the error pipe included) closes on execve, so none
    // of the host's reaches the container (CVE-2024-21626).
    if (::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
        throw_system_error("close_range");
    // But init's boot-marker pipe, which init closes before the command runs.
    if (::fcntl(context.marker_fd, F_SETFD, 0) < 0)
        throw_system_error("fcntl F_SETFD", "(boot marker pipe)");
    reset_signals();
    load_seccomp_program(precompiled_seccomp_program());
    execute_init_program(context.init_program_fd, argv.data(), envp.data());
    throw_system_error("execveat", "vmm-init (memfd)");
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
