#pragma once

#include "network/Address.h"
#include "network/Bridge.h"
#include "network/Lease.h"
#include "network/PortMapping.h"
#include "network/Veth.h"

#include <optional>
#include <string>
#include <vector>

namespace vmm::network {

struct EndpointOptions {
    InstanceKind kind { InstanceKind::Container };
    std::string bridge { default_bridge_name };
    std::optional<Subnet> subnet;          // --subnet; empty: the bridge's, else the default.
    std::optional<Ipv4Address> address;    // --ip; empty: the lowest free one.
    std::optional<MacAddress> mac;         // --mac; empty: MacAddress::for_address().
    std::vector<PortMapping> published_ports; // -p, each host port at most once.
};

// One instance's place on a bridge, everything `--net bridge` needs on the
// host side, acquired in one call and released by the destructor:
// 1. checks CAP_NET_ADMIN, sweeps what killed instances left (leases, host
//    interfaces, nftables rules, tracked connections);
// 2. ensures the bridge, leases an address and a MAC, ensures the bridge's
//    outbound NAT;
// 3. reserves the host ports and publishes them (nftables DNAT).
// The caller then makes the link: a container calls
// create_veth_into_namespace(host_interface_name(), bridge(), ...); a VM
// opens a TAP named host_interface_name() and calls attach_to_bridge(name,
// bridge()). The destructor deletes that interface if it is still there,
// removes the rules and the address's tracked connections and releases the
// lease; the last instance on a bridge also removes its NAT rules (the
// bridge itself stays, as docker0 does).
class Endpoint {
public:
    static Endpoint create(EndpointOptions const& options);
    Endpoint(Endpoint&& other) noexcept;
    Endpoint& operator=(Endpoint&&) = delete;
    ~Endpoint();

    BridgeInfo const& bridge() const { return m_bridge; }
    Ipv4Address address() const { return m_lease->address(); }
    unsigned prefix_length() const { return m_bridge.subnet.prefix_length(); }
    Ipv4Address gateway() const { return m_bridge.subnet.gateway(); }
    MacAddress mac() const { return m_lease->mac(); }
    unsigned mtu() const { return m_bridge.mtu; }
    std::string host_interface_name() const { return m_lease->host_interface_name(); }
    std::vector<PortMapping> const& published_ports() const { return m_ports; }
    // What the instance's side of its link gets (create_veth_into_namespace()).
    InterfaceConfiguration interface_configuration() const { return { address(), prefix_length(), gateway(), mac(), mtu() }; }

private:
    Endpoint(BridgeInfo bridge, Lease lease, std::vector<PortMapping> ports, std::vector<FileDescriptor> port_sockets);
    void tear_down();
    // Removes the lease's rules and tracked connections, the bridge's NAT
    // when no other lease holds it, then the lease file itself (last, so
    // that a kill in between still leaves it for a sweep).
    static void release_host_side(std::string const& bridge, Lease& lease);

    BridgeInfo m_bridge;
    std::optional<Lease> m_lease;
    std::vector<PortMapping> m_ports;
    std::vector<FileDescriptor> m_port_sockets;
};

}
