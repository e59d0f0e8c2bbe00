#pragma once

#include "common/cgroup/Cgroup.h"
#include "container/ContainerSpec.h"
#include "network/Endpoint.h"

#include <optional>
#include <sys/types.h>

namespace vmm::container {

// Steps of a container's launch (container/Container.cpp) that stand on
// their own.

// Waits for init's boot marker (a byte on its pipe; end of file if init
// died first) and says when it came, as `vmm boot --timings` does.
std::optional<double> wait_for_boot_marker(int marker_fd);

// The host side of --net bridge: a lease on vmm0 and the published ports.
network::Endpoint create_endpoint(BridgeOptions const& bridge);

// Gives the container (waiting on its sync pipe) its eth0.
void connect_to_bridge(network::Endpoint const& endpoint, pid_t pid);

// After a failed run, a note of which limit refused what.
void note_limit_events(Cgroup const& cgroup, ResourceLimits const& resources);

// Joins the PID namespace the spec names, before the clone.
void join_pid_namespace(ContainerSpec const& spec);

}
