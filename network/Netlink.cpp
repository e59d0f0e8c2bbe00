#include "network/Netlink.h"

#include "common/Error.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sched.h>
#include <thread>
#include <utility>

// <linux/if.h> and <net/if.h> clash; this is all vmm needs of the latter.
extern "C" char* if_indextoname(unsigned int, char*);

namespace vmm::network {

namespace {

// Each libnl object type with its own release function, owned.
struct LinkDeleter {
    void operator()(rtnl_link* link) const { rtnl_link_put(link); }
};
struct AddressDeleter {
    void operator()(rtnl_addr* address) const { rtnl_addr_put(address); }
};
struct RouteDeleter {
    void operator()(rtnl_route* route) const { rtnl_route_put(route); }
};
struct NlAddressDeleter {
    void operator()(nl_addr* address) const { nl_addr_put(address); }
};
struct CacheDeleter {
    void operator()(nl_cache* cache) const { nl_cache_free(cache); }
};
using Link = std::unique_ptr<rtnl_link, LinkDeleter>;
using NlAddress = std::unique_ptr<nl_addr, NlAddressDeleter>;
using Cache = std::unique_ptr<nl_cache, CacheDeleter>;

[[noreturn]] void throw_netlink_error(std::string_view operation, std::string_view subject, int error)
{
    throw Error(fmt::format("netlink {} {}: {}", operation, subject, nl_geterror(error < 0 ? -error : error)));
}

void check(int result, std::string_view operation, std::string_view subject)
{
    if (result < 0)
        throw_netlink_error(operation, subject, result);
}

Link allocate_link()
{
    Link link(rtnl_link_alloc());
    if (!link)
        throw Error("netlink: out of memory");
    return link;
}

NlAddress ipv4_address(Ipv4Address address, unsigned prefix_length)
{
    uint32_t const bytes = address.network_order();
    NlAddress result(nl_addr_build(AF_INET, &bytes, sizeof(bytes)));
    if (!result)
        throw Error("netlink: out of memory");
    nl_addr_set_prefixlen(result.get(), static_cast<int>(prefix_length));
    return result;
}

NlAddress ethernet_address(MacAddress mac)
{
    NlAddress result(nl_addr_build(AF_LLC, mac.bytes.data(), mac.bytes.size()));
    if (!result)
        throw Error("netlink: out of memory");
    return result;
}

Ipv4Address to_ipv4(nl_addr* address)
{
    uint32_t bytes = 0;
    if (address && nl_addr_get_len(address) == sizeof(bytes))
        __builtin_memcpy(&bytes, nl_addr_get_binary_addr(address), sizeof(bytes));
    return { ntohl(bytes) };
}

std::string interface_name(int index)
{
    char name[IFNAMSIZ] {};
    if (index > 0 && if_indextoname(static_cast<unsigned>(index), name))
        return name;
    return fmt::format("#{}", index);
}

}

std::string Route::description() const
{
    return fmt::format("{} dev {}", destination.to_string(), interface_name(interface_index));
}

NetlinkSocket::NetlinkSocket(nl_sock* socket)
    : m_socket(socket)
{
}

NetlinkSocket::NetlinkSocket(NetlinkSocket&& other) noexcept
    : m_socket(std::exchange(other.m_socket, nullptr))
{
}

NetlinkSocket& NetlinkSocket::operator=(NetlinkSocket&& other) noexcept
{
    if (this != &other) {
        if (m_socket)
            nl_socket_free(m_socket);
        m_socket = std::exchange(other.m_socket, nullptr);
    }
    return *this;
}

NetlinkSocket::~NetlinkSocket()
{
    if (m_socket)
        nl_socket_free(m_socket);
}

NetlinkSocket NetlinkSocket::open()
{
    nl_sock* socket = nl_socket_alloc();
    if (!socket)
        throw Error("netlink: out of memory");
    NetlinkSocket result(socket);
    check(nl_connect(socket, NETLINK_ROUTE), "connect", "(rtnetlink)");
    return result;
}

NetlinkSocket NetlinkSocket::open_in(int netns_fd)
{
    // setns() changes only the calling thread's namespace: a thread of its
    // own joins the target, opens the socket and ends.
    std::optional<NetlinkSocket> socket;
    std::string failure;
    std::thread opener([&] {
        try {
            if (::setns(netns_fd, CLONE_NEWNET) < 0)
                throw_system_error("setns", "(instance network namespace)");
            socket.emplace(open());
        } catch (std::exception const& error) {
            failure = error.what();
        }
    });
    opener.join();
    if (!socket)
        throw Error(failure);
    return std::move(*socket);
}

std::optional<int> NetlinkSocket::find_link(std::string const& name)
{
    rtnl_link* raw = nullptr;
    int const result = rtnl_link_get_kernel(m_socket, 0, name.c_str(), &raw);
    if (result == -NLE_OBJ_NOTFOUND || result == -NLE_NODEV)
        return std::nullopt;
    check(result, "get link", name);
    Link link(raw);
    return rtnl_link_get_ifindex(link.get());
}

int NetlinkSocket::link_index(std::string const& name)
{
    auto index = find_link(name);
    if (!index)
        throw Error(fmt::format("interface {}: no such interface", name));
    return *index;
}

std::string NetlinkSocket::link_kind(std::string const& name)
{
    rtnl_link* raw = nullptr;
    check(rtnl_link_get_kernel(m_socket, 0, name.c_str(), &raw), "get link", name);
    Link link(raw);
    char const* type = rtnl_link_get_type(link.get());
    return type ? type : "";
}

std::optional<MacAddress> NetlinkSocket::link_mac(std::string const& name)
{
    rtnl_link* raw = nullptr;
    check(rtnl_link_get_kernel(m_socket, 0, name.c_str(), &raw), "get link", name);
    Link link(raw);
    nl_addr* address = rtnl_link_get_addr(link.get());
    MacAddress mac;
    if (!address || nl_addr_get_len(address) != mac.bytes.size())
        return std::nullopt;
    std::memcpy(mac.bytes.data(), nl_addr_get_binary_addr(address), mac.bytes.size());
    return mac;
}

unsigned NetlinkSocket::link_mtu(std::string const& name)
{
    rtnl_link* raw = nullptr;
    check(rtnl_link_get_kernel(m_socket, 0, name.c_str(), &raw), "get link", name);
    Link link(raw);
    return rtnl_link_get_mtu(link.get());
}

void NetlinkSocket::create_bridge(std::string const& name, MacAddress mac)
{
    auto link = allocate_link();
    check(rtnl_link_set_type(link.get(), "bridge"), "bridge type", name);
    rtnl_link_set_name(link.get(), name.c_str());
    // A bridge takes the lowest MAC of its ports unless given one; a fixed
    // one keeps the gateway's neighbour entries valid as ports come and go.
    auto address = ethernet_address(mac);
    rtnl_link_set_addr(link.get(), address.get());
    rtnl_link_set_flags(link.get(), IFF_UP);
    check(rtnl_link_add(m_socket, link.get(), NLM_F_CREATE | NLM_F_EXCL), "add bridge", name);
}

void NetlinkSocket::create_veth(std::string const& host_name, int bridge_index, unsigned mtu, std::string const& peer_name, int peer_netns_fd, MacAddress peer_mac)
{
    Link link(rtnl_link_veth_alloc());
    if (!link)
        throw Error("netlink: out of memory");
    rtnl_link_set_name(link.get(), host_name.c_str());
    rtnl_link_set_mtu(link.get(), mtu);
    rtnl_link_set_master(link.get(), bridge_index);
    rtnl_link_set_flags(link.get(), IFF_UP);
    Link peer(rtnl_link_veth_get_peer(link.get()));
    rtnl_link_set_name(peer.get(), peer_name.c_str());
    rtnl_link_set_mtu(peer.get(), mtu);
    auto address = ethernet_address(peer_mac);
    rtnl_link_set_addr(peer.get(), address.get());
    rtnl_link_set_ns_fd(peer.get(), peer_netns_fd);
    check(rtnl_link_add(m_socket, link.get(), NLM_F_CREATE | NLM_F_EXCL), "add veth", host_name);
}

void NetlinkSocket::enslave(std::string const& name, int bridge_index, unsigned mtu)
{
    rtnl_link* raw = nullptr;
    check(rtnl_link_get_kernel(m_socket, 0, name.c_str(), &raw), "get link", name);
    Link original(raw);
    auto change = allocate_link();
    rtnl_link_set_master(change.get(), bridge_index);
    rtnl_link_set_mtu(change.get(), mtu);
    rtnl_link_set_flags(change.get(), IFF_UP);
    check(rtnl_link_change(m_socket, original.get(), change.get(), 0), "attach to bridge", name);
}

void NetlinkSocket::set_up(std::string const& name)
{
    rtnl_link* raw = nullptr;
    check(rtnl_link_get_kernel(m_socket, 0, name.c_str(), &raw), "get link", name);
    Link original(raw);
    auto change = allocate_link();
    rtnl_link_set_flags(change.get(), IFF_UP);
    check(rtnl_link_change(m_socket, original.get(), change.get(), 0), "set up", name);
}

bool NetlinkSocket::delete_link(std::string const& name)
{
    auto link = allocate_link();
    rtnl_link_set_name(link.get(), name.c_str());
    int const result = rtnl_link_delete(m_socket, link.get());
    if (result == -NLE_OBJ_NOTFOUND || result == -NLE_NODEV)
        return false;
    check(result, "delete link", name);
    return true;
}

void NetlinkSocket::add_address(int index, Ipv4Address address, unsigned prefix_length)
{
    std::unique_ptr<rtnl_addr, AddressDeleter> request(rtnl_addr_alloc());
    if (!request)
        throw Error("netlink: out of memory");
    auto local = ipv4_address(address, prefix_length);
    rtnl_addr_set_ifindex(request.get(), index);
    rtnl_addr_set_family(request.get(), AF_INET);
    check(rtnl_addr_set_local(request.get(), local.get()), "address", address.to_string());
    rtnl_addr_set_prefixlen(request.get(), static_cast<int>(prefix_length));
    Subnet const subnet(address, prefix_length);
    auto broadcast = ipv4_address(subnet.broadcast(), 32);
    rtnl_addr_set_broadcast(request.get(), broadcast.get());
    check(rtnl_addr_add(m_socket, request.get(), 0), "add address", fmt::format("{}/{} to {}", address.to_string(), prefix_length, interface_name(index)));
}

std::optional<NetlinkSocket::InterfaceAddress> NetlinkSocket::interface_address(int index)
{
    nl_cache* raw = nullptr;
    check(rtnl_addr_alloc_cache(m_socket, &raw), "list addresses", interface_name(index));
    Cache cache(raw);
    for (auto* object = nl_cache_get_first(cache.get()); object; object = nl_cache_get_next(object)) {
        auto* address = reinterpret_cast<rtnl_addr*>(object);
        if (rtnl_addr_get_ifindex(address) == index && rtnl_addr_get_family(address) == AF_INET)
            return InterfaceAddress { to_ipv4(rtnl_addr_get_local(address)), static_cast<unsigned>(rtnl_addr_get_prefixlen(address)) };
    }
    return std::nullopt;
}

void NetlinkSocket::add_default_route(int index, Ipv4Address gateway)
{
    std::unique_ptr<rtnl_route, RouteDeleter> route(rtnl_route_alloc());
    if (!route)
        throw Error("netlink: out of memory");
    auto destination = ipv4_address({ 0 }, 0);
    rtnl_route_set_family(route.get(), AF_INET);
    rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
    rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
    rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
    rtnl_route_set_type(route.get(), RTN_UNICAST);
    check(rtnl_route_set_dst(route.get(), destination.get()), "default route", interface_name(index));
    auto* next_hop = rtnl_route_nh_alloc();
    if (!next_hop)
        throw Error("netlink: out of memory");
    auto gateway_address = ipv4_address(gateway, 32);
    rtnl_route_nh_set_gateway(next_hop, gateway_address.get());
    rtnl_route_nh_set_ifindex(next_hop, index);
    rtnl_route_add_nexthop(route.get(), next_hop); // The route owns it now.
    check(rtnl_route_add(m_socket, route.get(), NLM_F_CREATE | NLM_F_EXCL), "add default route via", gateway.to_string());
}

std::vector<Route> NetlinkSocket::ipv4_routes()
{
    nl_cache* raw = nullptr;
    check(rtnl_route_alloc_cache(m_socket, AF_INET, 0, &raw), "list routes", "(IPv4)");
    Cache cache(raw);
    std::vector<Route> routes;
    for (auto* object = nl_cache_get_first(cache.get()); object; object = nl_cache_get_next(object)) {
        auto* route = reinterpret_cast<rtnl_route*>(object);
        auto* destination = rtnl_route_get_dst(route);
        if (!destination)
            continue;
        auto const prefix_length = static_cast<unsigned>(nl_addr_get_prefixlen(destination));
        int index = 0;
        if (rtnl_route_get_nnexthops(route) > 0)
            index = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(route, 0));
        Subnet const subnet(to_ipv4(destination), prefix_length);
        routes.push_back({ subnet, index });
    }
    return routes;
}

}
