#pragma once

#include "common/FileDescriptor.h"
#include "network/Address.h"
#include "network/PortMapping.h"

#include <string>
#include <vector>

namespace vmm::network {

// Throws vmm::Error unless every host port is free on the host: bound by
// a socket of the same protocol ("-p 8080:80: host port 8080/tcp is in use
// on the host"); the sockets are returned and should be held while the
// ports are published, so that no host program takes a port later.
std::vector<FileDescriptor> reserve_host_ports(std::vector<PortMapping> const& ports);

// Adds the outbound NAT of a bridge's subnet to the `inet vmm` table
// (created with its chains when missing), unless it is there already.
void ensure_bridge_nat(std::string const& bridge, std::string const& subnet);
// Removes that bridge's NAT rules, and the table when it is left empty.
void remove_bridge_nat(std::string const& bridge);

// Forwards each port of the host's own addresses (fib daddr type local; from
// outside, from the host itself and from instances through the gateway) to
// `address`, in rules whose comment is `tag` (Lease::rule_tag()).
void publish_ports(std::string const& tag, Ipv4Address address, std::vector<PortMapping> const& ports);

// Removes every rule tagged `tag`.
void remove_tagged_rules(std::string const& tag);

// The tags of vmm's instance rules now present (for sweeping and tests).
std::vector<std::string> instance_rule_tags();
// The bridges whose NAT rules are present (tags vmm:BRIDGE).
std::vector<std::string> bridges_with_nat();

}
