#pragma once

#include "network/Address.h"
#include "network/Bridge.h"

#include <string>

namespace vmm::network {

// What the namespace side of an instance's link gets.
struct InterfaceConfiguration {
    Ipv4Address address;
    unsigned prefix_length { 0 };
    Ipv4Address gateway;
    MacAddress mac;
    unsigned mtu { 1500 };
};

// Creates a veth pair whose host end `host_name` sits on `bridge` (up) and
// whose other end is `eth0` in the network namespace `netns_fd`
// (/proc/PID/ns/net), then, in that namespace, brings lo and eth0 up with
// `configuration`'s address, MAC and MTU and a default route via the
// gateway. On failure nothing is left (the pair is deleted).
void create_veth_into_namespace(std::string const& host_name, BridgeInfo const& bridge, int netns_fd, InterfaceConfiguration const& configuration);

}
