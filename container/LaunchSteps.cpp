#include "container/LaunchSteps.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "common/Timings.h"
#include "guest/protocol.h"
#include "network/Veth.h"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace vmm::container {

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
network::Endpoint create_endpoint(BridgeOptions const& bridge)
{
    network::EndpointOptions endpoint_options;
    endpoint_options.kind = network::InstanceKind::Container;
    endpoint_options.bridge = bridge.name;
    endpoint_options.subnet = bridge.subnet;
    endpoint_options.address = bridge.address;
    endpoint_options.mac = bridge.mac;
    endpoint_options.published_ports = bridge.published_ports;
    return network::Endpoint::create(endpoint_options);
}

// Gives the container (waiting on its sync pipe) its eth0: the PID cannot
// be reused meanwhile, since the child is ours and not yet reaped.
void connect_to_bridge(network::Endpoint const& endpoint, pid_t pid)
{
    auto const netns = FileDescriptor::open(fmt::format("/proc/{}/ns/net", pid), O_RDONLY);
    network::create_veth_into_namespace(endpoint.host_interface_name(), endpoint.bridge(), netns.get(),
        endpoint.interface_configuration());
}

// An exit status of 137, or a shell's "can't fork", does not say that a
// limit was the cause (docker keeps the first in `inspect`'s OOMKilled):
// after a failed run, a note says which limit refused what.
void note_limit_events(Cgroup const& cgroup, ResourceLimits const& resources)
{
    auto const events = cgroup.limit_events();
    if (events.out_of_memory_kills > 0 && resources.memory_bytes)
        spdlog::warn("note: the container ran out of memory (its limit is {:.1f} MiB): the kernel's out-of-memory killer ended {} of its processes",
            double(*resources.memory_bytes) / (1 << 20), events.out_of_memory_kills);
    else if (events.out_of_memory_kills > 0)
        spdlog::warn("note: the host ran out of memory: the kernel's out-of-memory killer ended {} of the container's processes", events.out_of_memory_kills);
    if (events.process_limit_hits > 0 && resources.pids)
        spdlog::warn("note: the container reached its limit of {} processes: the kernel refused {} fork{}", *resources.pids,
            events.process_limit_hits, events.process_limit_hits == 1 ? "" : "s");
}

// Joins the PID namespace the spec names before the clone: setns on a PID
// namespace applies to the children made afterwards.
void join_pid_namespace(ContainerSpec const& spec)
{
    auto const* pid_namespace = spec.find_namespace(NamespaceType::Pid);
    if (!pid_namespace || pid_namespace->path.empty())
        return;
    auto fd = FileDescriptor::open(pid_namespace->path, O_RDONLY);
    if (::setns(fd.get(), CLONE_NEWPID) < 0)
        throw_system_error("setns", pid_namespace->path);
}

}
