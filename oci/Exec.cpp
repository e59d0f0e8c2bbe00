// exec: a further process in a running container.

#include "oci/Runtime.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "container/Capabilities.h"
#include "common/cgroup/Cgroup.h"
#include "container/ContainerTerminal.h"
#include "container/ProcessSetup.h"
#include "container/SeccompProfile.h"
#include "container/SeccompSpec.h"
#include "oci/ArgumentFiles.h"
#include "oci/Config.h"
#include "oci/ContainerCgroup.h"
#include "container/SignalProxy.h"
#include "oci/State.h"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <optional>
#include <linux/close_range.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vmm::oci {

using nlohmann::json;

namespace {

constexpr std::pair<char const*, int> namespace_files[] = {
    { "user", CLONE_NEWUSER }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS }, { "net", CLONE_NEWNET },
    { "pid", CLONE_NEWPID }, { "cgroup", CLONE_NEWCGROUP }, { "mnt", CLONE_NEWNS },
};

// The namespaces of `pid` that differ from ours, opened now (before any setns).
std::vector<std::pair<FileDescriptor, int>> open_namespaces(pid_t pid)
{
    std::vector<std::pair<FileDescriptor, int>> result;
    for (auto const& [name, flag] : namespace_files) {
        struct stat theirs {};
        struct stat ours {};
        auto path = fmt::format("/proc/{}/ns/{}", pid, name);
        if (::stat(path.c_str(), &theirs) < 0 || ::stat(fmt::format("/proc/self/ns/{}", name).c_str(), &ours) < 0)
            continue;
        if (theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev)
            continue;
        result.emplace_back(FileDescriptor::open(path, O_RDONLY), flag);
    }
    return result;
}

FileDescriptor connect_socket(std::string const& path)
{
    FileDescriptor socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address {};
    address.sun_family = AF_UNIX;
    if (!socket.is_valid() || path.size() >= sizeof(address.sun_path))
        throw Error(fmt::format("--console-socket {}: cannot use it", path));
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    if (::connect(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0)
        throw_system_error("connect", fmt::format("{} (--console-socket)", path));
    return socket;
}

[[noreturn]] void fail_in_child(int error_fd, std::string const& message)
{
    write_all(error_fd, message.data(), message.size());
    ::_exit(1);
}

// The grandchild: in every namespace and the cgroup; becomes the process.
[[noreturn]] void become_exec_process(container::ProcessSpec const& process, std::span<sock_filter const> seccomp, int terminal_fd, int error_fd, int preserve_fds)
{
    try {
        if (::setsid() < 0)
            throw_system_error("setsid", "(exec)");
        if (terminal_fd >= 0)
            container::attach_container_terminal(terminal_fd);
        auto executable = container::find_executable(process);
        if (::chdir(process.cwd.c_str()) < 0)
            throw_system_error("chdir", fmt::format("{} (cwd)", process.cwd));
        container::apply_resource_limits(process.rlimits);
        bool const filter_first = !process.no_new_privileges && !seccomp.empty();
        if (filter_first)
            container::load_seccomp_program(seccomp);
        container::limit_bounding_set(process.capabilities.bounding);
        container::switch_user(process);
        container::apply_capability_sets(process.capabilities);
        if (process.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            throw_system_error("prctl PR_SET_NO_NEW_PRIVS");
        if (::syscall(SYS_close_range, 3u + static_cast<unsigned>(preserve_fds), ~0u, CLOSE_RANGE_CLOEXEC) < 0)
            throw_system_error("close_range");
        if (!filter_first && !seccomp.empty())
            container::load_seccomp_program(seccomp);
        auto arguments = process.args;
        auto environment = container::process_environment(process);
        std::vector<char*> argv;
        for (auto& argument : arguments)
            argv.push_back(argument.data());
        argv.push_back(nullptr);
        std::vector<char*> envp;
        for (auto& variable : environment)
            envp.push_back(variable.data());
        envp.push_back(nullptr);
        ::execve(executable.c_str(), argv.data(), envp.data());
        throw_system_error("exec", executable);
    } catch (std::exception const& error) {
        fail_in_child(error_fd, error.what());
    }
}

}

int exec_in_container(GlobalOptions const& global, ExecOptions const& options)
{
    StateDirectory directory(global.root);
    ContainerRecord record;
    json config;
    {
        auto container = directory.open_locked(options.id);
        record = std::move(container.record);
        auto status = container.status;
        if (status != Status::Running && status != Status::Created)
            throw Error(fmt::format("container {} is {}: cannot exec in it", options.id, status_name(status)));
        config = directory.read_config(options.id);
    }
    auto spec = spec_from_config(config, record.bundle);
    auto process = spec.process;
    if (!options.process_file.empty()) {
        read_object_argument(options.process_file, "--process", [&](nlohmann::json const& process_json) { read_process(process_json, process); });
    } else {
        if (options.command.empty())
            throw Error("exec: give a command or --process");
        process.args = options.command;
        process.terminal = options.tty ? container::ProcessTerminal::Pseudo : container::ProcessTerminal::None;
    }
    if (!options.cwd.empty()) {
        // The spec's rule for process.cwd, as runc applies it to --cwd.
        if (options.cwd.front() != '/')
            throw Error(fmt::format("exec --cwd {}: the cwd must be an absolute path", options.cwd));
        process.cwd = options.cwd;
    }
    for (auto const& variable : options.env)
        process.env.push_back(variable);
    if (options.no_new_privileges)
        process.no_new_privileges = true;
    if (!options.user.empty()) {
        // runc's UID[:GID], numbers only: names would be looked up in the
        // container's files, which the runtime does not trust.
        auto colon = options.user.find(':');
        process.uid = parse_id(options.user.substr(0, colon), "exec --user: the uid");
        if (colon != std::string::npos)
            process.gid = parse_id(options.user.substr(colon + 1), "exec --user: the gid");
    }
    std::vector<sock_filter> seccomp;
    if (spec.seccomp_kind == container::SeccompKind::Spec)
        seccomp = container::compile_seccomp_spec(spec.seccomp);

    FileDescriptor console;
    FileDescriptor relay_end;
    int terminal_fd = -1;
    if (process.terminal == container::ProcessTerminal::Pseudo) {
        if (!options.console_socket.empty()) {
            console = connect_socket(options.console_socket);
        } else {
            int pair[2];
            if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                throw_system_error("socketpair", "(exec terminal)");
            relay_end.reset(pair[0]);
            console.reset(pair[1]);
        }
        terminal_fd = console.get();
    }
    auto namespaces = open_namespaces(record.pid);
    auto cgroup = open_container_cgroup(record);

    int pid_pipe[2];
    int error_pipe[2];
    if (::pipe2(pid_pipe, O_CLOEXEC) < 0 || ::pipe2(error_pipe, O_CLOEXEC) < 0)
        throw_system_error("pipe2", "(exec)");
    FileDescriptor pid_read(pid_pipe[0]);
    FileDescriptor pid_write(pid_pipe[1]);
    FileDescriptor error_read(error_pipe[0]);
    FileDescriptor error_write(error_pipe[1]);
    // The process ends up our child: the middle one exits, we reap.
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        throw_system_error("prctl PR_SET_CHILD_SUBREAPER");
    pid_t middle = ::fork();
    if (middle < 0)
        throw_system_error("fork", "(exec)");
    if (middle == 0) {
        try {
            if (cgroup)
                cgroup->attach(::getpid());
            // The user namespace first: it owns the others.
            for (auto const& [fd, flag] : namespaces) {
                if (::setns(fd.get(), flag) < 0)
                    throw_system_error("setns", fmt::format("/proc/{}/ns ({})", record.pid, flag));
            }
            pid_t child = ::fork();
            if (child < 0)
                throw_system_error("fork", "(exec in the PID namespace)");
            if (child == 0)
                become_exec_process(process, seccomp, terminal_fd, error_write.get(), options.preserve_fds);
            write_all(pid_write.get(), &child, sizeof(child));
            ::_exit(0);
        } catch (std::exception const& error) {
            fail_in_child(error_write.get(), error.what());
        }
    }
    pid_write.reset();
    error_write.reset();
    console.reset();
    // In the foreground the runtime stands for the process (runc's signal
    // proxy): what it gets before the PID is known is sent once it is.
    std::optional<container::SignalProxy> proxy;
    if (!options.detach)
        proxy.emplace();
    pid_t child = -1;
    bool got_pid = false;
    for (;;) {
        auto const length = ::read(pid_read.get(), &child, sizeof(child));
        if (length < 0 && errno == EINTR)
            continue;
        got_pid = length == sizeof(child);
        break;
    }
    while (::waitpid(middle, nullptr, 0) < 0 && errno == EINTR) { }
    auto message = read_all(error_read.get());
    if (!message.empty()) {
        if (got_pid)
            ::waitpid(child, nullptr, 0);
        throw Error(message);
    }
    if (!got_pid)
        throw Error("exec: the process could not be started");
    if (proxy)
        proxy->forward_to(child);
    if (!options.pid_file.empty())
        write_file_atomically(options.pid_file, std::to_string(child));
    if (options.detach)
        return 0;
    if (relay_end.is_valid()) {
        auto master = container::receive_container_terminal(relay_end.get());
        container::relay_container_terminal(master.get(), child);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) { }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}
