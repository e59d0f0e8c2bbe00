#pragma once

#include "network/Address.h"

#include <cstddef>

namespace vmm::network {

// The host's connection-tracking entries (netfilter conntrack, through
// libnl-nf-3) of one instance's address: flows that it started or that a
// published port sent it, with their NAT. They outlive the instance: a
// published UDP port's flow keeps its DNAT to the old address for as long as
// the client keeps sending (each datagram refreshes the entry), so that the
// next instance given the address receives it, published or not. Docker
// deletes them for the same reason.

// The number of entries that have `address` in either direction.
size_t count_connections(Ipv4Address address);

// Deletes those entries; returns how many went. A host whose conntrack is
// not loaded has none (and is not made to load it). Errors are vmm::Error
// naming the netlink operation.
size_t forget_connections(Ipv4Address address);

// forget_connections() as clean-up calls it: a failure is a warning (the
// rest of the clean-up goes on), and what went is logged under -v.
void forget_connections_of(Ipv4Address address);

}
