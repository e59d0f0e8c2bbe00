#pragma once

#include "network/Address.h"

#include <optional>
#include <string>
#include <string_view>

namespace vmm::network {

// The bridge instances join unless told otherwise.
constexpr char const* default_bridge_name = "vmm0";

struct BridgeInfo {
    std::string name;
    int index { 0 };   // The interface index.
    Subnet subnet;     // The host side holds subnet.gateway()/prefix.
    unsigned mtu { 1500 }; // Read from the bridge: instances' interfaces get the same.
    std::optional<MacAddress> mac; // The bridge's own, which no instance may take.
};

// Returns the bridge `name`, creating it when missing: a Linux bridge, up,
// whose address is `subnet`'s gateway (the host side is the instances'
// gateway). `subnet` empty means the address an existing bridge has, else
// Subnet::default_text. Throws vmm::Error:
// - the subnet overlaps a route of the host (other than the bridge's own):
//   "--subnet 192.0.2.0/24 overlaps the host's route 192.0.2.0/24 dev eth0";
// - an existing bridge has another subnet, or `name` is not a bridge, or is
//   an instance's interface name (is_instance_interface_name()).
// Callers hold the network lock (NetworkLock) around it.
BridgeInfo ensure_bridge(std::string const& name, std::optional<Subnet> const& subnet);

// Turns on net.ipv4.ip_forward and makes sure of the bridge's outbound NAT
// (nftables, table `inet vmm`) and route_localnet: what release_bridge()
// undoes. Called once a lease is held, so that a vmm killed in between
// leaves a lease file, which any later run sweeps, with what it made.
void enable_bridge_nat(BridgeInfo const& bridge);

// What the last instance on bridge `name` undoes (the bridge itself stays):
// its NAT rules and guard (and the table when it is left empty), and
// route_localnet. Callers hold the network lock.
void release_bridge(std::string const& name);

// Puts interface `name` (a veth's host end, a TAP) on bridge `bridge`, with
// the bridge's MTU, and brings it up.
void attach_to_bridge(std::string const& name, BridgeInfo const& bridge);

// Deletes interface `name` if it exists (a veth pair goes with either end).
void delete_interface(std::string const& name);

// "vmm" and eight hex digits: the name of an instance's host interface
// (host_interface_name_for()), which no bridge may take.
bool is_instance_interface_name(std::string_view name);
// Deletes instance interface `name` if it exists and is a veth or a TAP:
// never a link of another kind that happens to have the name.
void delete_instance_interface(std::string const& name);

// Fails with one line unless the caller may configure the host's network:
// "--net bridge needs root (CAP_NET_ADMIN in the host's network namespace);
// rootless, use --net none or --net host". `option` starts the message.
void check_network_administration(std::string_view option);

}
