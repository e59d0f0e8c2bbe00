#include "oci/Runtime.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "common/cgroup/Cgroup.h"
#include "container/Container.h"
#include "container/ContainerTerminal.h"
#include "container/Hooks.h"
#include "oci/Config.h"
#include "oci/Log.h"
#include "oci/State.h"

#include <cerrno>
#include <climits>
#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vmm::oci {

using nlohmann::json;

namespace {

// Where a container without linux.cgroupsPath gets its cgroup.
constexpr std::string_view default_cgroup_parent = "vmm-oci";

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

std::string cgroup_path_for(std::string const& configured, std::string const& id)
{
    if (configured.empty())
        return fmt::format("{}/{}", default_cgroup_parent, id);
    if (configured.find(':') != std::string::npos)
        throw Error(fmt::format("linux.cgroupsPath '{}' is systemd's slice:prefix:name form: vmm manages cgroups itself (--systemd-cgroup is not supported)", configured));
    auto path = configured;
    while (!path.empty() && path.front() == '/')
        path.erase(0, 1);
    if (path.empty() || path.find("..") != std::string::npos)
        throw Error(fmt::format("linux.cgroupsPath '{}' is not a cgroup path", configured));
    return path;
}

// Removes the container's cgroup, killing what is still in it, and our own
// parent directory once it is empty.
void remove_container_cgroup(std::string const& cgroups_path)
{
    if (cgroups_path.empty())
        return;
    auto remove_our_parent = [&] {
        if (cgroups_path.starts_with(std::string(default_cgroup_parent) + "/")) {
            if (auto parent = vmm::open_cgroup(std::string(default_cgroup_parent)); parent && parent->process_ids().empty())
                parent->remove();
        }
    };
    auto cgroup = vmm::open_cgroup(cgroups_path);
    if (!cgroup) {
        remove_our_parent();
        return;
    }
    for (int attempt = 0; attempt < 500; ++attempt) {
        auto pids = cgroup->process_ids();
        if (pids.empty())
            break;
        cgroup->signal_all(SIGKILL);
        // Killed tasks in a frozen cgroup die only once it is thawed.
        if (cgroup->freezer_state() == vmm::FreezerState::Frozen)
            cgroup->set_freezer_state(vmm::FreezerState::Thawed);
        ::usleep(2000);
    }
    if (!cgroup->remove())
        throw Error(fmt::format("cannot remove cgroup {}: {}", cgroups_path, std::strerror(errno)));
    remove_our_parent();
}

// Waits until `record`'s process is gone (reaped or a zombie): at most ~5 s.
bool wait_until_gone(ContainerRecord const& record)
{
    for (int attempt = 0; attempt < 2500; ++attempt) {
        if (process_start_time(record.pid) != record.pid_start_time)
            return true;
        // Our own child (run): reap it.
        ::waitpid(record.pid, nullptr, WNOHANG);
        ::usleep(2000);
    }
    return false;
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
    spec.cgroups_path = cgroup_path_for(spec.cgroups_path, options.id);
    if (spec.process.terminal == container::ProcessTerminal::Pseudo && console_fd < 0 && options.console_socket.empty())
        throw Error("process.terminal is true: give --console-socket (or --detach=false with run)");

    StateDirectory directory(global.root);
    auto lock = directory.create_container_directory(options.id);
    ContainerRecord record;
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
        record.pid_start_time = process_start_time(pid);
        directory.write_record(record, nullptr);
        if (!options.pid_file.empty())
            write_file_atomically(options.pid_file, std::to_string(pid));
    } catch (...) {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        try {
            remove_container_cgroup(spec.cgroups_path);
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
    if (text.empty())
        return SIGTERM;
    if (std::isdigit(static_cast<unsigned char>(text[0]))) {
        int number = 0;
        try {
            number = std::stoi(text);
        } catch (...) {
        }
        if (number <= 0 || number >= NSIG)
            throw Error(fmt::format("signal '{}' is not a signal number", text));
        return number;
    }
    auto name = text.starts_with("SIG") ? text.substr(3) : text;
    for (int number = 1; number < NSIG; ++number) {
        char const* abbreviation = ::sigabbrev_np(number);
        if (abbreviation && name == abbreviation)
            return number;
    }
    throw Error(fmt::format("signal '{}' is unknown", text));
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
    auto config = directory.read_config(id);
    auto spec = spec_from_config(config, record.bundle);
    if (!spec.hooks.poststart.empty())
        run_hooks_warning(spec.hooks.poststart, "poststart", state_json(record, Status::Running).dump());
    return 0;
}

int print_state(GlobalOptions const& global, std::string const& id)
{
    StateDirectory directory(global.root);
    auto [lock, record, status] = directory.open_locked(id);
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
    if (all && !record.cgroups_path.empty()) {
        if (auto cgroup = vmm::open_cgroup(record.cgroups_path)) {
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
        if (!record.cgroups_path.empty()) {
            if (auto cgroup = vmm::open_cgroup(record.cgroups_path)) {
                cgroup->signal_all(SIGKILL);
                if (cgroup->freezer_state() == vmm::FreezerState::Frozen)
                    cgroup->set_freezer_state(vmm::FreezerState::Thawed);
            }
        }
        if (!wait_until_gone(record))
            throw Error(fmt::format("container {}: pid {} did not die after SIGKILL", id, record.pid));
    }
    remove_container_cgroup(record.cgroups_path);
    json config;
    try {
        config = directory.read_config(id);
    } catch (Error const&) {
    }
    if (!config.is_null()) {
        auto spec = spec_from_config(config, record.bundle);
        if (!spec.hooks.poststop.empty())
            run_hooks_warning(spec.hooks.poststop, "poststop", state_json(record, Status::Stopped).dump());
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
