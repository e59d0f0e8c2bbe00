#include "container/Container.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "common/Timings.h"
#include "common/cgroup/Cgroup.h"
#include "container/ContainerInit.h"
#include "container/ContainerTerminal.h"
#include "container/InitProgram.h"
#include "container/Namespaces.h"
#include "container/RootFilesystem.h"
#include "container/WritableLayer.h"
#include "guest/protocol.h"
#include "network/Endpoint.h"
#include "network/Veth.h"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <optional>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vmm::container {

namespace {

// Below this, guest/init itself cannot start.
constexpr uint64_t minimum_memory_limit = 4 * 1024 * 1024;

volatile sig_atomic_t forward_to_pid = 0;

void forward_signal(int signal_number)
{
    if (forward_to_pid > 0)
        ::kill(forward_to_pid, signal_number);
}

// Forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to the container's init while
// it runs and ignores SIGPIPE (a child that died early closes the sync pipe),
// and puts the previous handlers back afterwards.
class SignalForwarder {
public:
    SignalForwarder()
    {
        struct sigaction action {};
        action.sa_handler = forward_signal;
        sigemptyset(&action.sa_mask);
        for (size_t index = 0; index < std::size(signals); ++index)
            ::sigaction(signals[index], &action, &m_previous[index]);
        struct sigaction ignore {};
        ignore.sa_handler = SIG_IGN;
        ::sigaction(SIGPIPE, &ignore, &m_previous_pipe);
    }
    ~SignalForwarder()
    {
        forward_to_pid = 0;
        for (size_t index = 0; index < std::size(signals); ++index)
            ::sigaction(signals[index], &m_previous[index], nullptr);
        ::sigaction(SIGPIPE, &m_previous_pipe, nullptr);
    }
    SignalForwarder(SignalForwarder const&) = delete;
    SignalForwarder& operator=(SignalForwarder const&) = delete;

    void forward_to(pid_t pid) { forward_to_pid = pid; }

private:
    static constexpr int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
    struct sigaction m_previous[std::size(signals)] {};
    struct sigaction m_previous_pipe {};
};

// The container's init as the parent sees it. Killed and reaped on
// destruction if nobody waited for it, so an error path leaves no process.
class ContainerProcess {
public:
    explicit ContainerProcess(pid_t pid)
        : m_pid(pid)
    {
    }
    ~ContainerProcess() { kill_and_wait(); }
    ContainerProcess(ContainerProcess const&) = delete;
    ContainerProcess& operator=(ContainerProcess const&) = delete;

    pid_t pid() const { return m_pid; }

    void kill_and_wait()
    {
        if (m_pid > 0) {
            ::kill(m_pid, SIGKILL);
            wait();
        }
    }

    // Waits for init and returns its status as a shell reports it.
    int wait()
    {
        int status = 0;
        while (::waitpid(m_pid, &status, 0) < 0) {
            if (errno != EINTR)
                throw_system_error("waitpid", "(container init)");
        }
        m_pid = -1;
        return vmm_exit_status_from_wait_status(status);
    }

private:
    pid_t m_pid;
};

struct Pipe {
    FileDescriptor read_end;
    FileDescriptor write_end;

    static Pipe create()
    {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) < 0)
            throw_system_error("pipe2");
        return { FileDescriptor(fds[0]), FileDescriptor(fds[1]) };
    }

    // Both ends can read and write; the parent keeps read_end.
    static Pipe create_socket_pair()
    {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
            throw_system_error("socketpair");
        return { FileDescriptor(fds[0]), FileDescriptor(fds[1]) };
    }
};

// Waits for init's boot marker (a byte on its pipe; end of file if init
// died first) and says when it came, as `vmm boot --timings` does.
std::optional<double> wait_for_boot_marker(int marker_fd)
{
    char byte = 0;
    ssize_t length;
    while ((length = ::read(marker_fd, &byte, 1)) < 0 && errno == EINTR) { }
    if (length != 1)
        return std::nullopt;
    auto const milliseconds = Timings::elapsed_milliseconds();
    fmt::print(stderr, "{} (container) at {:.3f} ms\n", VMM_BOOT_MARKER_LINE, milliseconds);
    return milliseconds;
}

// The host side of --net bridge: a lease on vmm0 and the published ports.
network::Endpoint create_endpoint(ContainerOptions const& options)
{
    network::EndpointOptions endpoint_options;
    endpoint_options.kind = network::InstanceKind::Container;
    endpoint_options.bridge = options.bridge.name;
    endpoint_options.subnet = options.bridge.subnet;
    endpoint_options.address = options.bridge.address;
    endpoint_options.mac = options.bridge.mac;
    endpoint_options.published_ports = options.bridge.published_ports;
    return network::Endpoint::create(endpoint_options);
}

// Gives the container (waiting on its sync pipe) its eth0: the PID cannot
// be reused meanwhile, since the child is ours and not yet reaped.
void connect_to_bridge(network::Endpoint const& endpoint, pid_t pid)
{
    auto const netns = FileDescriptor::open(fmt::format("/proc/{}/ns/net", pid), O_RDONLY);
    network::create_veth_into_namespace(endpoint.host_interface_name(), endpoint.bridge(), netns.get(),
        { endpoint.address(), endpoint.prefix_length(), endpoint.gateway(), endpoint.mac(), endpoint.mtu() });
}

void validate(ContainerOptions const& options)
{
    if (options.memory_limit && *options.memory_limit < minimum_memory_limit)
        throw Error(fmt::format("--mem: {} bytes is below the minimum of 4M", *options.memory_limit));
    if (options.pids_limit && *options.pids_limit < 1)
        throw Error("--pids: must be at least 1");
    if (options.hostname.empty() || options.hostname.size() > 64)
        throw Error(fmt::format("--hostname: '{}' is not a hostname of 1 to 64 characters", options.hostname));
}

int run_container(ContainerOptions const& options)
{
    validate(options);
    auto const user_namespace = options.rootless == Rootless::Yes || ::geteuid() != 0 ? UserNamespace::Yes : UserNamespace::No;
    ResourceLimits limits { options.memory_limit, options.cpus, options.pids_limit };

    auto root = open_root_source(options.rootfs);
    if (options.command.empty())
        check_has_shell(root);
    if (::geteuid() == 0) {
        sweep_stale_cgroups();
        sweep_stale_writable_layers();
    }
    // Before the container process, so that it is gone (reaped) first.
    std::optional<network::Endpoint> endpoint;
    if (options.network == NetworkMode::Bridge)
        endpoint.emplace(create_endpoint(options));
    else if (::geteuid() == 0)
        network::sweep_stale_leases_if_any();

    // As root the container always gets its own cgroup; an unprivileged
    // caller only where it asked for limits (and has a delegated hierarchy).
    std::unique_ptr<Cgroup> cgroup;
    auto device_creation = DeviceCreation::Denied;
    if (::geteuid() == 0 || limits.any()) {
        cgroup = create_cgroup(container_cgroup_name(::getpid()));
        cgroup->apply(limits);
        if (::geteuid() == 0) {
            cgroup->restrict_devices(default_device_rules());
            device_creation = DeviceCreation::Allowlisted;
        }
        cgroup->prepare_join();
    }

    auto sync = Pipe::create();
    auto errors = Pipe::create();
    IdMapping id_mapping {};
    if (user_namespace == UserNamespace::Yes) {
        id_mapping = rootless_id_mapping();
        // Root maps the container to ids nobody has: the rootfs is shown
        // through those maps so that the container's root owns its files.
        if (::geteuid() == 0)
            map_root_ids(root, create_user_namespace(id_mapping).get());
    }
    std::optional<WritableLayer> writable_layer;
    if (!root.directory.empty() && ::geteuid() == 0) {
        auto const& users = user_namespace == UserNamespace::Yes ? id_mapping.users : IdRange { 0, 1 };
        auto const& groups = user_namespace == UserNamespace::Yes ? id_mapping.groups : IdRange { 0, 1 };
        writable_layer.emplace(::getpid(), users, groups);
        root.writable_layer = writable_layer->path();
    }
    auto init_program = create_init_program();
    auto marker = Pipe::create();
    std::optional<Pipe> terminal;
    if (options.terminal == TerminalMode::Pseudo)
        terminal = Pipe::create_socket_pair();
    SignalForwarder forwarder;
    pid_t pid = clone_into_namespaces(namespace_clone_flags(options.network, user_namespace), cgroup ? cgroup->clone_into_fd() : -1);
    if (pid == 0) {
        sync.write_end.reset();
        errors.read_end.reset();
        marker.read_end.reset();
        if (terminal)
            terminal->read_end.reset();
        become_container_init({ options, root, user_namespace, cgroup.get(), device_creation, sync.read_end.get(), errors.write_end.get(),
            marker.write_end.get(), init_program.get(), terminal ? terminal->write_end.get() : -1 });
    }
    // Destroyed before the cgroup: an error path kills and reaps the
    // container before its cgroup is removed.
    ContainerProcess init(pid);
    forwarder.forward_to(pid);
    sync.read_end.reset();
    errors.write_end.reset();
    marker.write_end.reset();
    if (terminal)
        terminal->write_end.reset();

    if (user_namespace == UserNamespace::Yes || endpoint) {
        // A failure here may be the child's doing (it stopped early): its
        // own message then says what went wrong.
        try {
            if (user_namespace == UserNamespace::Yes)
                write_id_maps(pid, id_mapping);
            if (endpoint)
                connect_to_bridge(*endpoint, pid);
            char const go = 1;
            if (!write_all(sync.write_end.get(), &go, 1))
                throw_system_error("write", "(container sync pipe)");
        } catch (Error const&) {
            init.kill_and_wait();
            auto message = read_all(errors.read_end.get());
            if (!message.empty())
                throw Error(message);
            throw;
        }
    }
    sync.write_end.reset();

    // The error pipe closes on init's execve: empty means it started.
    auto message = read_all(errors.read_end.get());
    if (!message.empty()) {
        init.wait();
        throw Error(message);
    }
    std::optional<double> marker_milliseconds;
    if (options.print_timings)
        marker_milliseconds = wait_for_boot_marker(marker.read_end.get());
    if (terminal) {
        auto master = receive_container_terminal(terminal->read_end.get());
        relay_container_terminal(master.get(), pid);
    }
    int status = init.wait();
    if (options.print_timings) {
        fmt::print(stderr, "vmm: timings: boot marker {}, exit {:.3f} ms\n",
            marker_milliseconds ? fmt::format("{:.3f} ms", *marker_milliseconds) : std::string("-"), Timings::elapsed_milliseconds());
    }
    return status;
}

}

int run(ContainerOptions const& options)
{
    try {
        return run_container(options);
    } catch (Error const& error) {
        throw Error(fmt::format("--container: {}", error.what()));
    }
}

}
