#pragma once

#include "common/FileDescriptor.h"
#include "network/Address.h"
#include "network/Bridge.h"
#include "network/PortMapping.h"

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace vmm::network {

// Where vmm keeps what parallel instances must agree on.
constexpr char const* state_directory = "/run/vmm/network";

// Serialises bridge creation, leasing and sweeping between vmm processes
// (an flock on /run/vmm/network/lock), held while it lives. Only set-up
// and tear-down hold it, for milliseconds; never an instance's whole run.
// Nested locks in one thread take the file once (a second flock of the same
// process on another descriptor would wait for itself).
class NetworkLock {
public:
    NetworkLock();
    ~NetworkLock();
    NetworkLock(NetworkLock const&) = delete;
    NetworkLock& operator=(NetworkLock const&) = delete;

private:
    FileDescriptor m_fd;
};

enum class InstanceKind {
    Container,
    VirtualMachine,
};

// An address of a bridge's subnet held by this process: a file
// /run/vmm/network/leases/BRIDGE/ADDRESS, flock()ed while the lease lives.
// The kernel drops the lock when the holder dies, also by SIGKILL, so a file
// whose lock can be taken is a dead instance's, and sweep_stale_leases()
// removes what that instance left. The file records the owner's PID, its
// kind, its host interface, its MAC and its published ports.
class Lease {
public:
    // Takes the lowest free address of `bridge.subnet`, or `fixed` (--ip)
    // when given. Throws vmm::Error naming the problem: "--ip 10.88.0.7 is
    // in use by PID 1234", "--ip 10.99.0.7 is not in vmm0's subnet
    // 10.88.0.0/16", "subnet 10.88.0.0/30 of vmm0 is exhausted (1
    // addresses, all leased)", "-p 8080:80/tcp: host port 8080/tcp is
    // already published by PID 1234". Call with the NetworkLock held.
    // The MAC is `fixed_mac` (--mac), else MacAddress::for_address(); one
    // in use on the bridge (the bridge's own included) is refused: "--mac
    // 02:00:00:00:00:42 is in use by PID 1234".
    static Lease acquire(BridgeInfo const& bridge, InstanceKind kind, std::optional<Ipv4Address> fixed, std::optional<MacAddress> fixed_mac,
        std::vector<PortMapping> const& ports);

    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    // Removes the lease file (under the lock) if release() was not called.
    ~Lease();

    Ipv4Address address() const { return m_address; }
    MacAddress mac() const { return m_mac; }
    std::string const& bridge_name() const { return m_bridge; }
    // The host side of the instance's link (a veth end or a TAP):
    // "vmm" and the address in hex, e.g. vmm0a580005. Fixed by the address,
    // so a sweep finds it without the dead owner's help.
    std::string host_interface_name() const;
    // Tags nftables rules that belong to this instance: "vmm:vmm0:10.88.0.5".
    std::string rule_tag() const;

    // Removes the file and drops the lock. Call with the NetworkLock held.
    void release();

private:
    Lease(std::string bridge, Ipv4Address address, MacAddress mac, std::string path, FileDescriptor fd);
    std::string m_bridge;
    Ipv4Address m_address;
    MacAddress m_mac;
    std::string m_path;
    FileDescriptor m_fd;
};

// "vmm:BRIDGE:ADDRESS", the tag of the rules of that lease.
std::string rule_tag_for(std::string const& bridge, Ipv4Address address);
std::string host_interface_name_for(Ipv4Address address);

// Removes the lease files whose owner is gone, with their host interfaces
// and nftables rules; and any vmm rule whose lease is not held. Call with
// the NetworkLock held (Endpoint::create does).
void sweep_stale_leases();

// The same, for runs that make no lease: only when a lease file is stale
// (its lock free), which costs a directory listing when there is none.
void sweep_stale_leases_if_any();

// The leases now held on `bridge` (their addresses).
std::vector<Ipv4Address> live_leases(std::string const& bridge);

}
