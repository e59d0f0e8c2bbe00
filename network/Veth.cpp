#include "network/Veth.h"

#include "network/Netlink.h"

namespace vmm::network {

void create_veth_into_namespace(std::string const& host_name, BridgeInfo const& bridge, int netns_fd, InterfaceConfiguration const& configuration)
{
    auto host = NetlinkSocket::open();
    // The peer is born in the instance's namespace as eth0: it is never
    // visible on the host under a name that could clash.
    host.create_veth(host_name, bridge.index, configuration.mtu, "eth0", netns_fd, configuration.mac);
    try {
        auto inside = NetlinkSocket::open_in(netns_fd);
        inside.set_up("lo");
        auto const index = inside.link_index("eth0");
        inside.add_address(index, configuration.address, configuration.prefix_length);
        inside.set_up("eth0");
        inside.add_default_route(index, configuration.gateway);
    } catch (...) {
        host.delete_link(host_name);
        throw;
    }
}

}
