#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "network/Conntrack.h"
#include "network/Endpoint.h"
#include "network/Netlink.h"
#include "network/PublishedPorts.h"
#include "network/Veth.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace vmm::network;

namespace {

// A bridge and subnet of this test's own (not vmm0: other runs may use it),
// chosen from the PID so that parallel runs do not overlap.
struct TestBridge {
    std::string name = fmt::format("vmmt{}", ::getpid() % 100000);
    Subnet subnet = Subnet::parse(fmt::format("10.{}.{}.0/24", 200 + ::getpid() % 50, (::getpid() / 50) % 256));
    ~TestBridge() { delete_interface(name); }
};

vmm::FileDescriptor tcp_socket()
{
    vmm::FileDescriptor socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(socket.is_valid());
    return socket;
}

sockaddr_in socket_address(Ipv4Address address, uint16_t port)
{
    sockaddr_in result {};
    result.sin_family = AF_INET;
    result.sin_port = htons(port);
    result.sin_addr.s_addr = address.network_order();
    return result;
}

vmm::FileDescriptor listen_on(Ipv4Address address, uint16_t port)
{
    auto socket = tcp_socket();
    int one = 1;
    ::setsockopt(socket.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    auto const bound = socket_address(address, port);
    if (::bind(socket.get(), reinterpret_cast<sockaddr const*>(&bound), sizeof(bound)) < 0 || ::listen(socket.get(), 8) < 0)
        return {};
    return socket;
}

// Connects, sends `message` and returns what comes back before the peer closes (5 s at most).
std::string exchange(Ipv4Address address, uint16_t port, std::string const& message)
{
    auto socket = tcp_socket();
    timeval timeout { 5, 0 };
    ::setsockopt(socket.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ::setsockopt(socket.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    auto const peer = socket_address(address, port);
    if (::connect(socket.get(), reinterpret_cast<sockaddr const*>(&peer), sizeof(peer)) < 0)
        return fmt::format("connect: {}", strerror(errno));
    if (!vmm::write_all(socket.get(), message.data(), message.size()))
        return "write failed";
    ::shutdown(socket.get(), SHUT_WR);
    return vmm::read_all(socket.get());
}

// Answers one connection on `listener` with what it sent, upper-cased.
void serve_once(int listener)
{
    pollfd ready { listener, POLLIN, 0 };
    if (::poll(&ready, 1, 10000) != 1)
        return;
    vmm::FileDescriptor connection(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    auto text = vmm::read_all(connection.get());
    for (auto& character : text)
        character = static_cast<char>(std::toupper(static_cast<unsigned char>(character)));
    vmm::write_all(connection.get(), text.data(), text.size());
}

// A process in a network namespace of its own that echoes on port 7000
// and, told a gateway, connects back to it on port 7001.
class NamespaceProcess {
public:
    NamespaceProcess()
    {
        int ready[2];
        int go[2];
        if (::pipe(ready) < 0 || ::pipe(go) < 0)
            throw vmm::Error("pipe");
        m_pid = ::fork();
        if (m_pid == 0) {
            ::close(ready[0]);
            ::close(go[1]);
            if (::unshare(CLONE_NEWNET) < 0)
                ::_exit(2);
            auto listener = listen_on({ 0 }, 7000);
            (void)!::write(ready[1], "r", 1);
            uint32_t gateway = 0;
            if (::read(go[0], &gateway, sizeof(gateway)) != sizeof(gateway))
                ::_exit(3);
            serve_once(listener.get());
            auto const answer = exchange({ gateway }, 7001, "from the namespace");
            ::_exit(answer == "FROM THE NAMESPACE" ? 0 : 4);
        }
        ::close(ready[1]);
        ::close(go[0]);
        m_go = vmm::FileDescriptor(go[1]);
        char byte;
        EXPECT_EQ(::read(ready[0], &byte, 1), 1);
        ::close(ready[0]);
        m_namespace = vmm::FileDescriptor::open(fmt::format("/proc/{}/ns/net", m_pid), O_RDONLY);
    }
    ~NamespaceProcess()
    {
        if (m_pid > 0) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
    }
    int namespace_fd() const { return m_namespace.get(); }
    void go(Ipv4Address gateway) { (void)!::write(m_go.get(), &gateway.value, sizeof(gateway.value)); }
    int wait()
    {
        int status = 0;
        ::waitpid(m_pid, &status, 0);
        m_pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

private:
    pid_t m_pid { -1 };
    vmm::FileDescriptor m_go;
    vmm::FileDescriptor m_namespace;
};

bool interface_exists(std::string const& name)
{
    return ::if_nametoindex(name.c_str()) != 0;
}

}

TEST(Endpoint, VethIntoANamespaceTalksToTheHostBothWaysAndPublishesAPort)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "bridges, veths and nftables need root";
    TestBridge bridge;
    std::string host_interface;
    std::string tag;
    {
        NamespaceProcess instance;
        EndpointOptions options;
        options.bridge = bridge.name;
        options.subnet = bridge.subnet;
        options.published_ports = { PortMapping::parse("17000:7000") };
        auto endpoint = Endpoint::create(options);
        EXPECT_EQ(endpoint.address(), bridge.subnet.first_lease());
        EXPECT_EQ(endpoint.gateway(), bridge.subnet.gateway());
        EXPECT_EQ(endpoint.mtu(), 1500u);
        host_interface = endpoint.host_interface_name();
        tag = rule_tag_for(bridge.name, endpoint.address());
        create_veth_into_namespace(host_interface, endpoint.bridge(), instance.namespace_fd(),
            endpoint.interface_configuration());
        EXPECT_TRUE(interface_exists(host_interface));
        auto const tags = instance_rule_tags();
        EXPECT_NE(std::find(tags.begin(), tags.end(), tag), tags.end());

        auto listener = listen_on(endpoint.gateway(), 7001);
        ASSERT_TRUE(listener.is_valid());
        instance.go(endpoint.gateway());
        // Through the published port on the gateway address (a host address): DNAT to port 7000.
        EXPECT_EQ(exchange(endpoint.gateway(), 17000, "through the published port"), "THROUGH THE PUBLISHED PORT");
        serve_once(listener.get());
        EXPECT_EQ(instance.wait(), 0) << "the namespace could not reach the host";
    }
    EXPECT_FALSE(interface_exists(host_interface));
    auto const tags = instance_rule_tags();
    EXPECT_EQ(std::find(tags.begin(), tags.end(), tag), tags.end());
    EXPECT_TRUE(live_leases(bridge.name).empty());
}

TEST(Endpoint, ASubnetOverlappingAHostRouteIsRefusedAndLeavesNothing)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "bridges need root";
    TestBridge bridge;
    // A route of the host's own (each address has a local one) that a
    // subnet may cover: not the default route, nor a reserved range.
    std::optional<Route> host_route;
    std::optional<Subnet> covering;
    for (auto const& route : NetlinkSocket::open().ipv4_routes()) {
        if (route.destination.prefix_length() < 8)
            continue;
        try {
            covering = Subnet::parse(Subnet(route.destination.network(), std::min(route.destination.prefix_length(), 30u)).to_string());
            host_route = route;
            break;
        } catch (vmm::Error const&) {
        }
    }
    if (!host_route)
        GTEST_SKIP() << "the host has no route outside the reserved ranges to overlap";
    EndpointOptions options;
    options.bridge = bridge.name;
    options.subnet = covering;
    try {
        Endpoint::create(options);
        ADD_FAILURE() << "an overlapping subnet was accepted";
    } catch (vmm::Error const& error) {
        EXPECT_NE(std::string(error.what()).find("overlaps the host's route " + host_route->description()), std::string::npos) << error.what();
    }
    EXPECT_FALSE(interface_exists(bridge.name));
}

TEST(Endpoint, AHostPortInUseOnTheHostIsRefused)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "bridges need root";
    TestBridge bridge;
    auto busy = listen_on({ 0 }, 0);
    sockaddr_in bound {};
    socklen_t length = sizeof(bound);
    ::getsockname(busy.get(), reinterpret_cast<sockaddr*>(&bound), &length);
    EndpointOptions options;
    options.bridge = bridge.name;
    options.subnet = bridge.subnet;
    options.published_ports = { PortMapping::parse(fmt::format("{}:80", ntohs(bound.sin_port))) };
    try {
        Endpoint::create(options);
        ADD_FAILURE() << "a busy host port was accepted";
    } catch (vmm::Error const& error) {
        EXPECT_NE(std::string(error.what()).find("is in use on the host"), std::string::npos) << error.what();
    }
    EXPECT_TRUE(live_leases(bridge.name).empty());
}

// route_localnet is on for the bridge (published ports on 127.0.0.1): an
// instance that routes 127.0.0.1 through its gateway (as root in its
// namespace, or with raw packets and CAP_NET_RAW) must still not reach the
// host's loopback-only services; the bridge's guard rule drops it.
TEST(Endpoint, AnInstanceCannotReachTheHostsLoopbackServices)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "bridges, veths and nftables need root";
    TestBridge bridge;
    auto listener = listen_on(Ipv4Address::parse("127.0.0.1", "x"), 0);
    ASSERT_TRUE(listener.is_valid());
    sockaddr_in bound {};
    socklen_t length = sizeof(bound);
    ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &length);
    int go[2];
    ASSERT_EQ(::pipe(go), 0);
    pid_t child = ::fork();
    if (child == 0) {
        ::close(go[1]);
        if (::unshare(CLONE_NEWNET) < 0)
            ::_exit(2);
        uint32_t gateway = 0;
        if (::read(go[0], &gateway, sizeof(gateway)) != sizeof(gateway))
            ::_exit(3);
        // Loopback's addresses (and so their local routes) gone, 127.0.0.1 via the gateway.
        // route_localnet here too, so that this kernel sends it out of eth0.
        auto const routes = fmt::format("echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet && echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet"
                                        " && ip addr flush dev lo && ip route add 127.0.0.1/32 via {} dev eth0",
            Ipv4Address { gateway }.to_string());
        if (std::system(routes.c_str()) != 0)
            ::_exit(4);
        vmm::FileDescriptor socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        timeval timeout { 2, 0 };
        ::setsockopt(socket.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
        auto const peer = socket_address(Ipv4Address::parse("127.0.0.1", "x"), ntohs(bound.sin_port));
        ::_exit(::connect(socket.get(), reinterpret_cast<sockaddr const*>(&peer), sizeof(peer)) == 0 ? 1 : 0);
    }
    ::close(go[0]);
    // Waits for the child's namespace.
    std::string namespace_path = fmt::format("/proc/{}/ns/net", child);
    vmm::FileDescriptor own_namespace = vmm::FileDescriptor::open("/proc/self/ns/net", O_RDONLY);
    struct stat own {};
    ::fstat(own_namespace.get(), &own);
    for (int attempt = 0; attempt < 500; ++attempt) {
        struct stat other {};
        if (::stat(namespace_path.c_str(), &other) == 0 && other.st_ino != own.st_ino)
            break;
        ::usleep(10000);
    }
    {
        EndpointOptions options;
        options.bridge = bridge.name;
        options.subnet = bridge.subnet;
        auto endpoint = Endpoint::create(options);
        auto const netns = vmm::FileDescriptor::open(namespace_path, O_RDONLY);
        create_veth_into_namespace(endpoint.host_interface_name(), endpoint.bridge(), netns.get(),
            endpoint.interface_configuration());
        auto const gateway = endpoint.gateway().value;
        (void)!::write(go[1], &gateway, sizeof(gateway));
        ::close(go[1]);
        int status = 0;
        ::waitpid(child, &status, 0);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the instance connected to the host's 127.0.0.1; 4: its routes could not be set";
    }
}

// A published UDP port's flow is tracked with its DNAT to the instance; the
// entry must go with the instance, or the client's next datagrams (each
// refreshing it) reach whatever instance gets the address next.
TEST(Endpoint, TheAddressesTrackedConnectionsGoWithIt)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "bridges, veths and nftables need root";
    TestBridge bridge;
    NamespaceProcess instance;
    Ipv4Address address;
    {
        EndpointOptions options;
        options.bridge = bridge.name;
        options.subnet = bridge.subnet;
        options.published_ports = { PortMapping::parse("17002:7002/udp") };
        auto endpoint = Endpoint::create(options);
        address = endpoint.address();
        create_veth_into_namespace(endpoint.host_interface_name(), endpoint.bridge(), instance.namespace_fd(),
            endpoint.interface_configuration());
        if (::access("/proc/sys/net/netfilter/nf_conntrack_count", F_OK) < 0)
            GTEST_SKIP() << "this host tracks no connections (no nf_conntrack)";
        vmm::FileDescriptor socket(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        auto const peer = socket_address(endpoint.gateway(), 17002);
        ASSERT_EQ(::sendto(socket.get(), "x", 1, 0, reinterpret_cast<sockaddr const*>(&peer), sizeof(peer)), 1) << strerror(errno);
        EXPECT_GE(count_connections(address), 1u) << "the datagram to the published port left no tracked flow to " << address.to_string();
    }
    EXPECT_EQ(count_connections(address), 0u);
}

// Instances' host interfaces are named vmm and eight hex digits; a link of
// another kind with such a name is not vmm's to delete, and no bridge may
// take such a name.
TEST(Endpoint, ALinkOfAnotherKindWithAnInstancesNameIsLeftAlone)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "bridges and links need root";
    TestBridge bridge;
    NamespaceProcess instance;
    auto const name = host_interface_name_for(bridge.subnet.first_lease());
    ASSERT_EQ(std::system(fmt::format("ip link add {} type bridge", name).c_str()), 0);
    {
        EndpointOptions options;
        options.bridge = bridge.name;
        options.subnet = bridge.subnet;
        auto endpoint = Endpoint::create(options);
        ASSERT_EQ(endpoint.host_interface_name(), name);
        EXPECT_THROW(create_veth_into_namespace(endpoint.host_interface_name(), endpoint.bridge(), instance.namespace_fd(),
                         endpoint.interface_configuration()),
            vmm::Error);
    }
    EXPECT_TRUE(interface_exists(name)) << "the endpoint deleted a bridge that had its interface's name";
    delete_interface(name);

    EndpointOptions options;
    options.bridge = name;
    try {
        Endpoint::create(options);
        ADD_FAILURE() << "an instance interface's name was taken for a bridge";
    } catch (vmm::Error const& error) {
        EXPECT_EQ(std::string(error.what()), fmt::format("--bridge '{}': names of the form vmm and eight hex digits are those of instances' interfaces", name));
    }
    EXPECT_FALSE(interface_exists(name));
}

TEST(Endpoint, ABridgeSomeoneTookDownIsBroughtUp)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "bridges need root";
    TestBridge bridge;
    EndpointOptions options;
    options.bridge = bridge.name;
    options.subnet = bridge.subnet;
    Endpoint::create(options);
    ASSERT_EQ(std::system(fmt::format("ip link set {} down", bridge.name).c_str()), 0);
    auto endpoint = Endpoint::create(options);
    unsigned flags = 0;
    std::ifstream(fmt::format("/sys/class/net/{}/flags", bridge.name)) >> std::hex >> flags;
    EXPECT_TRUE(flags & IFF_UP) << "flags " << std::hex << flags;
}
