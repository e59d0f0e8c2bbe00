#include "oci/Runtime.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "common/cgroup/Cgroup.h"
#include "container/Container.h"
#include "container/ContainerTerminal.h"
#include "container/Hooks.h"
#include "oci/Config.h"
#include "oci/ContainerCgroup.h"
#include "oci/Log.h"
#include "container/SignalProxy.h"
#include "oci/State.h"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <optional>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vmm::oci {

using nlohmann::json;

namespace {

std::string absolute_directory(std::string const& path, std::string_view what)
{
    char resolved[PATH_MAX];
    if (!::realpath(path.c_str(), resolved))
        throw Error(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
    return resolved;
}

FileDescriptor connect_console_socket(std::string const& path)
{
    FileDescriptor socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!socket.is_valid())
        throw_system_error("socket", "(console socket)");
    sockaddr_un address {};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path))
        throw Error(fmt::format("--console-socket {}: path too long", path));
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    if (::connect(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0)
        throw_system_error("connect", fmt::format("{} (--console-socket)", path));
    return socket;
}

// Waits until `record`'s process is gone (reaped or a zombie): at most ~5 s.
bool wait_until_gone(ContainerRecord const& record)
{
    for (int attempt = 0; attempt < 2500 && record.pid_start_time != 0; ++attempt) {
        if (process_start_time(record.pid) != record.pid_start_time)
            return true;
        // Our own child (run): reap it.
        ::waitpid(record.pid, nullptr, WNOHANG);
        ::usleep(2000);
    }
    // No start time: no process was ever recorded, so none can be waited for.
    return record.pid_start_time == 0;
}

// The status of create's process, gone before create could record it, as
// a shell reports it (-1: unknown). Looked at, not reaped (WNOWAIT): the
// caller's SIGKILL must not reach a process that took the PID since.
int status_of_gone_process(pid_t pid)
{
    siginfo_t info {};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != pid)
        return -1;
    if (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED)
        return 128 + info.si_status;
    return info.si_code == CLD_EXITED ? info.si_status : -1;
}

void run_hooks_warning(std::vector<container::HookSpec> const& hooks, std::string_view phase, std::string const& state)
{
    // A failing poststart or poststop hook is a warning; the lifecycle goes on.
    for (auto const& hook : hooks) {
        try {
            container::run_hooks({ hook }, phase, state);
        } catch (Error const& error) {
            spdlog::warn("{}", error.what());
        }
    }
}

pid_t create_with_console(GlobalOptions const& global, CreateOptions const& options, int console_fd)
{
    validate_container_id(options.id);
    auto bundle = absolute_directory(options.bundle, "bundle");
    auto config = read_bundle_config(bundle);
    auto& spec = config.spec;
    spec.id = options.id;
    auto const cgroup_source = spec.cgroups_path.empty() ? CgroupPathSource::Default : CgroupPathSource::Configured;
    spec.cgroups_path = cgroup_path_for(spec.cgroups_path, options.id);
    if (spec.process.terminal == container::ProcessTerminal::Pseudo && console_fd < 0 && options.console_socket.empty())
        throw Error("process.terminal is true: give --console-socket (or --detach=false with run)");

    StateDirectory directory(global.root);
    auto lock = directory.create_container_directory(options.id);
    ContainerRecord record;
    try {
        record.cgroup_joined = prepare_container_cgroup(spec.cgroups_path, cgroup_source);
    } catch (...) {
        directory.remove_container_directory(options.id);
        throw;
    }
    record.id = options.id;
    record.bundle = bundle;
    record.cgroups_path = spec.cgroups_path;
    record.created = rfc3339_now();
    record.owner = std::to_string(::geteuid());
    record.annotations = config.json.value("annotations", json::object());
    pid_t pid = -1;
    try {
        directory.write_record(record, config.json);
        auto fifo_path = directory.container_directory(options.id) + "/exec.fifo";
        if (::mkfifo(fifo_path.c_str(), 0600) < 0)
            throw_system_error("mkfifo", fifo_path);
        // Read and write: the open does not wait for a writer. start opens it
        // for writing and sends the byte the process waits for.
        auto fifo = FileDescriptor::open(fifo_path, O_RDWR);
        FileDescriptor console;
        if (spec.process.terminal == container::ProcessTerminal::Pseudo && console_fd < 0) {
            console = connect_console_socket(options.console_socket);
            console_fd = console.get();
        }
        container::LaunchContext context;
        context.console_socket_fd = spec.process.terminal == container::ProcessTerminal::Pseudo ? console_fd : -1;
        context.start_fd = fifo.get();
        context.preserve_fds = options.preserve_fds;
        context.close_in_child = { lock.get() };
        context.hook_state = [&record](pid_t hook_pid, std::string_view status) {
            auto state = state_json(record, Status::Created);
            state["pid"] = hook_pid;
            state["status"] = std::string(status);
            return state.dump();
        };
        pid = container::create(spec, context);
        record.pid = pid;
        record.cgroup_inode = cgroup_identity(spec.cgroups_path);
        record.pid_start_time = process_start_time(pid);
        if (record.pid_start_time == 0)
            throw Error(container::death_during_create(spec, status_of_gone_process(pid), vmm::open_cgroup(spec.cgroups_path).get()));
        directory.write_record(record, nullptr);
        if (!options.pid_file.empty())
            write_file_atomically(options.pid_file, std::to_string(pid));
    } catch (...) {
        // Only what this create made goes: its process, and the cgroup
        // directories it made (container::create removed them itself if it
        // failed). Those it joined stay; they held nothing before.
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        try {
            if (pid > 0 && record.cgroup_inode != 0)
                remove_container_cgroup(record);
            else
                remove_default_parent_if_empty(spec.cgroups_path);
        } catch (Error const& error) {
            spdlog::warn("{}", error.what());
        }
        directory.remove_container_directory(options.id);
        throw;
    }
    return pid;
}

}

int parse_signal(std::string const& text)
{
    // runc's parsing: a whole number as it is (0 checks that the process
    // exists), else a name in any case, with or without SIG.
    if (text.empty())
        return SIGTERM;
    int number = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error == std::errc() && end == text.data() + text.size()) {
        if (number < 0 || number >= NSIG)
            throw Error(fmt::format("signal {} is not a signal number (0-{})", text, NSIG - 1));
        return number;
    }
    std::string name;
    for (char character : text)
        name += static_cast<char>(std::toupper(static_cast<unsigned char>(character)));
    if (name.starts_with("SIG"))
        name.erase(0, 3);
    for (int candidate = 1; candidate < NSIG && !name.empty(); ++candidate) {
        char const* abbreviation = ::sigabbrev_np(candidate);
        if (abbreviation && name == abbreviation)
            return candidate;
    }
    throw Error(fmt::format("unknown signal '{}'", text));
}

int create_container(GlobalOptions const& global, CreateOptions const& options)
{
    create_with_console(global, options, -1);
    return 0;
}

int start_container(GlobalOptions const& global, std::string const& id)
{
    StateDirectory directory(global.root);
    auto [lock, record, status] = directory.open_locked(id);
    if (status != Status::Created)
        throw Error(fmt::format("container {} is {}, not created: it cannot be started", id, status_name(status)));
    auto fifo_path = directory.container_directory(id) + "/exec.fifo";
    FileDescriptor fifo(::open(fifo_path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fifo.is_valid()) {
        if (errno == ENXIO)
            throw Error(fmt::format("container {}: its process is gone", id));
        throw_system_error("open", fifo_path);
    }
    char const go = 1;
    if (!write_all(fifo.get(), &go, 1))
        throw_system_error("write", fifo_path);
    if (::unlink(fifo_path.c_str()) < 0)
        throw_system_error("unlink", fifo_path);
    auto hooks = hooks_from_config(directory.read_config(id));
    if (!hooks.poststart.empty())
        run_hooks_warning(hooks.poststart, "poststart", state_json(record, Status::Running).dump());
    return 0;
}

int print_state(GlobalOptions const& global, std::string const& id)
{
    StateDirectory directory(global.root);
    validate_container_id(id);
    auto record = directory.read_record(id);
    auto status = observed_status(directory, record);
    auto state = state_json(record, status);
    std::string root_path = directory.read_config(id).value("root", json::object()).value("path", "");
    state["rootfs"] = root_path.starts_with("/") ? root_path : record.bundle + "/" + root_path;
    state["created"] = record.created;
    state["owner"] = record.owner;
    fmt::print("{}\n", state.dump(2));
    return 0;
}

int kill_container(GlobalOptions const& global, std::string const& id, std::string const& signal_text, bool all)
{
    int signal_number = parse_signal(signal_text);
    StateDirectory directory(global.root);
    auto [lock, record, status] = directory.open_locked(id);
    if (status == Status::Stopped)
        throw Error(fmt::format("container {} is not running", id));
    if (all) {
        if (auto cgroup = open_container_cgroup(record)) {
            cgroup->signal_all(signal_number);
            return 0;
        }
    }
    if (::kill(record.pid, signal_number) < 0)
        throw_system_error(fmt::format("kill {}", signal_number), fmt::format("container {} (pid {})", id, record.pid));
    return 0;
}

int delete_container(GlobalOptions const& global, std::string const& id, bool force)
{
    StateDirectory directory(global.root);
    FileDescriptor lock;
    try {
        lock = directory.lock_container(id);
    } catch (Error const&) {
        if (force && ::access(directory.container_directory(id).c_str(), F_OK) < 0)
            return 0;
        throw;
    }
    auto record = directory.read_record(id);
    auto status = current_status(directory, record);
    if ((status == Status::Running || status == Status::Paused) && !force)
        throw Error(fmt::format("container {} is {}: stop it first or use delete --force", id, status_name(status)));
    if (status != Status::Stopped) {
        ::kill(record.pid, SIGKILL);
        if (auto cgroup = open_container_cgroup(record)) {
            cgroup->signal_all(SIGKILL);
            if (cgroup->freezer_state() == vmm::FreezerState::Frozen)
                cgroup->set_freezer_state(vmm::FreezerState::Thawed);
        }
        if (!wait_until_gone(record))
            throw Error(fmt::format("container {}: pid {} did not die after SIGKILL", id, record.pid));
    }
    remove_container_cgroup(record);
    json config;
    try {
        config = directory.read_config(id);
    } catch (Error const&) {
    }
    if (!config.is_null()) {
        auto hooks = hooks_from_config(config);
        if (!hooks.poststop.empty())
            run_hooks_warning(hooks.poststop, "poststop", state_json(record, Status::Stopped).dump());
    }
    directory.remove_container_directory(id);
    return 0;
}

int run_container(GlobalOptions const& global, CreateOptions const& options, bool detach)
{
    // Without a console socket, a terminal is relayed here (runc run -t).
    int socket_pair[2] = { -1, -1 };
    FileDescriptor our_end;
    FileDescriptor their_end;
    bool relay = false;
    if (!detach && options.console_socket.empty()) {
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, socket_pair) < 0)
            throw_system_error("socketpair", "(terminal)");
        our_end.reset(socket_pair[0]);
        their_end.reset(socket_pair[1]);
        relay = true;
    }
    pid_t pid = create_with_console(global, options, relay ? their_end.get() : -1);
    their_end.reset();
    // From start on, the runtime stands for the container's process.
    std::optional<container::SignalProxy> proxy;
    if (!detach) {
        proxy.emplace();
        proxy->forward_to(pid);
    }
    start_container(global, options.id);
    if (detach)
        return 0;
    FileDescriptor master;
    {
        StateDirectory directory(global.root);
        auto spec = spec_from_config(directory.read_config(options.id), options.bundle);
        if (spec.process.terminal == container::ProcessTerminal::Pseudo)
            master = container::receive_container_terminal(our_end.get());
    }
    if (master.is_valid())
        container::relay_container_terminal(master.get(), pid);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
    int exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    delete_container(global, options.id, true);
    return exit_status;
}

}
