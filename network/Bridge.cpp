#include "network/Bridge.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "network/Netlink.h"
#include "network/PublishedPorts.h"

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vmm::network {

namespace {

constexpr char const* ip_forward_path = "/proc/sys/net/ipv4/ip_forward";

// Routing between the bridge and the host's other interfaces (outbound
// NAT, published ports) needs forwarding on; vmm turns it on and leaves it.
void enable_ip_forwarding()
{
    auto fd = FileDescriptor::open(ip_forward_path, O_RDWR);
    char current = 0;
    if (::pread(fd.get(), &current, 1, 0) == 1 && current == '1')
        return;
    if (::pwrite(fd.get(), "1\n", 2, 0) != 2)
        throw_system_error("write", ip_forward_path);
}

// Lets the host's own connections to 127.0.0.1:HOST_PORT be forwarded to an
// instance (DNAT in output, then masquerade); the nftables guard of the
// bridge drops what instances send to 127.0.0.0/8 themselves, so that
// their host's loopback services stay out of reach (CVE-2020-8558).
void set_route_localnet(std::string const& bridge, bool enabled)
{
    auto const path = fmt::format("/proc/sys/net/ipv4/conf/{}/route_localnet", bridge);
    FileDescriptor fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.is_valid()) {
        if (errno == ENOENT && !enabled)
            return; // The bridge is gone.
        throw_system_error("open", path);
    }
    if (::write(fd.get(), enabled ? "1\n" : "0\n", 2) != 2)
        throw_system_error("write", path);
}

void check_no_overlap(NetlinkSocket& socket, Subnet const& subnet, std::optional<int> bridge_index, std::string_view option)
{
    for (auto const& route : socket.ipv4_routes()) {
        // The default route overlaps everything; the bridge's own routes are ours.
        if (route.destination.prefix_length() == 0 || (bridge_index && route.interface_index == *bridge_index))
            continue;
        if (route.destination.overlaps(subnet))
            throw Error(fmt::format("{} {} overlaps the host's route {}", option, subnet.to_string(), route.description()));
    }
}

}

BridgeInfo ensure_bridge(std::string const& name, std::optional<Subnet> const& requested)
{
    bool const plain = std::all_of(name.begin(), name.end(), [](char character) { return std::isalnum(static_cast<unsigned char>(character)) || character == '-' || character == '_'; });
    if (name.empty() || name.size() >= 16 || !plain)
        throw Error(fmt::format("--bridge '{}': a bridge name has 1 to 15 letters, digits, '-' or '_'", name));
    if (is_instance_interface_name(name))
        throw Error(fmt::format("--bridge '{}': names of the form vmm and eight hex digits are those of instances' interfaces", name));
    auto socket = NetlinkSocket::open();
    auto index = socket.find_link(name);
    std::optional<Subnet> subnet = requested;
    auto const option = requested ? std::string_view("--subnet") : std::string_view("subnet");
    if (index) {
        if (auto const kind = socket.link_kind(name); kind != "bridge")
            throw Error(fmt::format("interface {} exists and is not a bridge ({})", name, kind.empty() ? "a device" : kind));
        if (auto const address = socket.interface_address(*index)) {
            Subnet const existing(address->address, address->prefix_length);
            if (subnet && *subnet != existing)
                throw Error(fmt::format("--subnet {}: bridge {} has subnet {} (delete the bridge to change it: ip link delete {})", subnet->to_string(), name,
                    existing.to_string(), name));
            if (address->address != existing.gateway())
                throw Error(fmt::format("bridge {} has address {}, not its subnet's first address {}", name, address->address.to_string(), existing.gateway().to_string()));
            subnet = existing;
        }
    }
    if (!subnet)
        subnet = Subnet::parse(Subnet::default_text);
    check_no_overlap(socket, *subnet, index, option);
    if (!index) {
        socket.create_bridge(name, MacAddress::for_address(subnet->gateway()));
        index = socket.link_index(name);
        try {
            socket.add_address(*index, subnet->gateway(), subnet->prefix_length());
        } catch (...) {
            socket.delete_link(name);
            throw;
        }
    } else {
        if (!socket.interface_address(*index))
            socket.add_address(*index, subnet->gateway(), subnet->prefix_length());
        // A bridge someone took down would take instances' traffic nowhere.
        socket.set_up(name);
    }
    return { name, *index, *subnet, socket.link_mtu(name), socket.link_mac(name) };
}

void enable_bridge_nat(BridgeInfo const& bridge)
{
    enable_ip_forwarding();
    ensure_bridge_nat(bridge.name, bridge.subnet.to_string());
    set_route_localnet(bridge.name, true);
}

void release_bridge(std::string const& name)
{
    remove_bridge_nat(name);
    set_route_localnet(name, false);
}

void attach_to_bridge(std::string const& name, BridgeInfo const& bridge)
{
    auto socket = NetlinkSocket::open();
    socket.enslave(name, bridge.index, bridge.mtu);
}

void delete_interface(std::string const& name)
{
    auto socket = NetlinkSocket::open();
    socket.delete_link(name);
}

bool is_instance_interface_name(std::string_view name)
{
    return name.size() == 11 && name.starts_with("vmm") && std::all_of(name.begin() + 3, name.end(), [](char character) { return std::isxdigit(static_cast<unsigned char>(character)); });
}

void delete_instance_interface(std::string const& name)
{
    auto socket = NetlinkSocket::open();
    if (!socket.find_link(name))
        return;
    // Only what an instance makes: a veth (its peer goes with it) or a TAP.
    if (auto const kind = socket.link_kind(name); kind != "veth" && kind != "tun")
        return;
    socket.delete_link(name);
}

void check_network_administration(std::string_view option)
{
    __user_cap_header_struct header { _LINUX_CAPABILITY_VERSION_3, 0 };
    __user_cap_data_struct data[2] {};
    bool capable = ::syscall(SYS_capget, &header, data) == 0 && (data[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32)));
    if (!capable)
        throw Error(fmt::format("{} needs root (CAP_NET_ADMIN on the host) to make a bridge, links and NAT rules; without root use --net none or --net host", option));
}

}
