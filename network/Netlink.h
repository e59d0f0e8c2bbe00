#pragma once

#include "network/Address.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

struct nl_sock;

namespace vmm::network {

// A route of the host's IPv4 tables, as the overlap check needs it.
struct Route {
    Subnet destination;
    int interface_index { 0 };
    std::string description() const; // "192.0.2.0/24 dev eth0"
};

// An rtnetlink socket (libnl-route-3) in one network namespace, with the
// few operations vmm needs. Errors are vmm::Error naming the operation
// and the interface: "netlink add link vmm0: Object exists".
class NetlinkSocket {
public:
    // A socket in the caller's network namespace.
    static NetlinkSocket open();
    // A socket in the network namespace `netns_fd`: it is opened by a
    // short-lived thread that joins that namespace, so the caller's own
    // namespace never changes; the socket stays bound to where it was made.
    static NetlinkSocket open_in(int netns_fd);

    NetlinkSocket(NetlinkSocket&&) noexcept;
    NetlinkSocket& operator=(NetlinkSocket&&) noexcept;
    ~NetlinkSocket();

    // The index of interface `name`, or nothing when there is none.
    std::optional<int> find_link(std::string const& name);
    int link_index(std::string const& name);
    std::string link_kind(std::string const& name); // "bridge", "veth", "tun", "" for a plain device.
    unsigned link_mtu(std::string const& name);
    std::optional<MacAddress> link_mac(std::string const& name);

    void create_bridge(std::string const& name, MacAddress mac);
    // A veth pair: `host_name` in this namespace on bridge `bridge_index`,
    // up; `peer_name` moved into `peer_netns_fd` with `peer_mac`.
    void create_veth(std::string const& host_name, int bridge_index, unsigned mtu, std::string const& peer_name, int peer_netns_fd, MacAddress peer_mac);
    // Sets the bridge (master), the MTU and IFF_UP of interface `name`.
    void enslave(std::string const& name, int bridge_index, unsigned mtu);
    void set_up(std::string const& name);
    // Deletes `name`; returns false when it did not exist.
    bool delete_link(std::string const& name);

    void add_address(int index, Ipv4Address address, unsigned prefix_length);
    // The first IPv4 address of interface `index` and its prefix length.
    struct InterfaceAddress {
        Ipv4Address address;
        unsigned prefix_length { 0 };
    };
    std::optional<InterfaceAddress> interface_address(int index);
    void add_default_route(int index, Ipv4Address gateway);
    std::vector<Route> ipv4_routes();

private:
    explicit NetlinkSocket(nl_sock* socket);
    nl_sock* m_socket { nullptr };
};

}
