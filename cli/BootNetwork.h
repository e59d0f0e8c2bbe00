#pragma once

#include "common/FileDescriptor.h"
#include "network/Endpoint.h"
#include "vmm/machine/BootOptions.h"

#include <sys/types.h>
#include <utility>

namespace vmm::cli {

// The host side of `vmm boot --net bridge`. The instance's Endpoint (lease,
// bridge, NAT and published ports; network/) lives in a small keeper
// process forked before anything else, because the VMM itself gives up its
// capabilities and most system calls once the machine is set up and could
// not take them down at its end. The keeper waits for the VMM's end (a pipe
// that closes, however the VMM ends: SIGKILL too) and then releases
// everything; a normal exit waits until it has. The VMM creates the TAP
// (named as the lease says) and puts it on the bridge; the TAP vanishes with
// the VMM's file descriptor.
class BootNetwork {
public:
    // Throws an Error (one line) for bad input (subnet, --ip, --mac, -p), a
    // missing /dev/net/tun, or no CAP_NET_ADMIN; the keeper has then
    // released what it took.
    static BootNetwork create(network::EndpointOptions const& options);
    BootNetwork(BootNetwork&&) = default;
    BootNetwork& operator=(BootNetwork&&) = delete;
    // In the process that created it: lets the keeper tear down, and waits until it has.
    ~BootNetwork();

    // The VM's network device settings, the TAP and vhost-net with them:
    // taken once, so that whoever holds them alone decides when they close
    // (a jailed VMM's parent drops its copies at the fork, or vhost-net's
    // worker would outlive the VMM in the jail's cgroup).
    NetOptions take_net_options() { return std::move(m_options); }

private:
    BootNetwork(pid_t creator, FileDescriptor life, FileDescriptor report)
        : m_creator(creator)
        , m_life(std::move(life))
        , m_report(std::move(report))
    {
    }

    pid_t m_creator;
    FileDescriptor m_life;   // Its closing tells the keeper that the VMM has ended.
    FileDescriptor m_report; // The keeper's answer, then end of file once it has torn down.
    NetOptions m_options;
};

}
