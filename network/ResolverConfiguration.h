#pragma once

#include "network/Address.h"

#include <span>
#include <string>
#include <vector>

namespace vmm::network {

// The first of `candidates` (resolv.conf files) that a container or VM
// behind the bridge's NAT can use, as Docker chooses it: one that names a
// name server and no loopback one (a local stub such as systemd-resolved's
// 127.0.0.53 is not reachable from another network namespace or a guest).
// "" if none is: the guest's tree keeps its own /etc/resolv.conf.
std::string usable_resolver_configuration(std::span<std::string const> candidates);

// usable_resolver_configuration() of the host's files: /etc/resolv.conf,
// then systemd-resolved's list of its upstream servers.
std::string host_resolver_configuration();

// The IPv4 name servers of the resolv.conf at `path`, at most `limit` (the C
// library reads three). IPv6 ones are left out: vmm gives guests IPv4 only,
// as Docker leaves them out of a network without IPv6.
std::vector<Ipv4Address> ipv4_name_servers(std::string const& path, size_t limit = 3);

}
