// `vmm --container ROOTFS --net bridge`: eth0 on a bridge with a leased
// address, talking to the host both ways, published ports, 20 containers
// at once, a killed vmm's leftovers swept, and bad input refused with one
// line. Each test uses a bridge and subnet of its own (made from the PID),
// sends traffic only between the host and the containers it made, and
// deletes the bridge at the end.

#include "tests/container/ContainerTestSupport.h"

#include "common/FileDescriptor.h"
#include "network/Address.h"
#include "network/Bridge.h"
#include "network/Lease.h"
#include "network/PublishedPorts.h"
#include "network/ResolverConfiguration.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>

using namespace container_test;
using vmm::network::Ipv4Address;
using vmm::network::Subnet;

namespace {

// A TCP server on the host side of the test's bridge: answers each
// connection with what it sent, upper-cased, and records what it got.
// With Barrier::AllConnections it answers only once all `connections`
// have sent, so that their senders are all alive at the same time.
class HostServer {
public:
    enum class Barrier {
        None,
        AllConnections,
    };
    HostServer(Ipv4Address address, int connections, Barrier barrier = Barrier::None)
    {
        m_socket = vmm::FileDescriptor(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        int one = 1;
        ::setsockopt(m_socket.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sockaddr_in bound {};
        bound.sin_family = AF_INET;
        bound.sin_addr.s_addr = address.network_order();
        if (::bind(m_socket.get(), reinterpret_cast<sockaddr*>(&bound), sizeof(bound)) < 0 || ::listen(m_socket.get(), 64) < 0) {
            ADD_FAILURE() << "cannot listen on " << address.to_string() << ": " << strerror(errno);
            return;
        }
        socklen_t length = sizeof(bound);
        ::getsockname(m_socket.get(), reinterpret_cast<sockaddr*>(&bound), &length);
        m_port = ntohs(bound.sin_port);
        m_thread = std::thread([this, connections, barrier] {
            std::vector<std::thread> handlers;
            for (int index = 0; index < connections; ++index) {
                pollfd ready { m_socket.get(), POLLIN, 0 };
                if (::poll(&ready, 1, 30000) != 1)
                    break;
                int connection = ::accept4(m_socket.get(), nullptr, nullptr, SOCK_CLOEXEC);
                if (connection < 0)
                    break;
                handlers.emplace_back([this, connection, connections, barrier] {
                    vmm::FileDescriptor owned(connection);
                    timeval timeout { 10, 0 };
                    ::setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
                    auto text = vmm::read_all(connection);
                    {
                        std::unique_lock guard(m_mutex);
                        m_received.push_back(text);
                        m_changed.notify_all();
                        if (barrier == Barrier::AllConnections)
                            m_changed.wait_for(guard, std::chrono::seconds(30), [&] { return m_received.size() >= size_t(connections); });
                    }
                    for (auto& character : text)
                        character = static_cast<char>(std::toupper(static_cast<unsigned char>(character)));
                    vmm::write_all(connection, text.data(), text.size());
                });
            }
            for (auto& handler : handlers)
                handler.join();
        });
    }
    ~HostServer() { wait(); }
    uint16_t port() const { return m_port; }
    std::vector<std::string> wait()
    {
        if (m_thread.joinable())
            m_thread.join();
        std::lock_guard guard(m_mutex);
        return m_received;
    }

private:
    vmm::FileDescriptor m_socket;
    uint16_t m_port { 0 };
    std::thread m_thread;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::vector<std::string> m_received;
};

// Connects from the host through `bridge` only (SO_BINDTODEVICE: without
// the bridge nothing is sent, never to the default route), sends
// `message`, half-closes and returns the answer; retries while the
// container's server is not listening yet.
std::string exchange(std::string const& bridge, Ipv4Address address, uint16_t port, std::string const& message)
{
    std::string failure;
    for (int attempt = 0; attempt < 100; ++attempt) {
        vmm::FileDescriptor socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        // 127.0.0.0/8 never leaves the host: no device needed (and a socket
        // bound to lo could not follow the DNAT to the bridge).
        bool const loopback = (address.value >> 24) == 127;
        if (!loopback && ::setsockopt(socket.get(), SOL_SOCKET, SO_BINDTODEVICE, bridge.c_str(), static_cast<socklen_t>(bridge.size())) < 0)
            return fmt::format("SO_BINDTODEVICE {}: {}", bridge, strerror(errno));
        timeval timeout { 10, 0 };
        ::setsockopt(socket.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        sockaddr_in peer {};
        peer.sin_family = AF_INET;
        peer.sin_port = htons(port);
        peer.sin_addr.s_addr = address.network_order();
        if (::connect(socket.get(), reinterpret_cast<sockaddr*>(&peer), sizeof(peer)) < 0) {
            failure = fmt::format("connect {}:{}: {}", address.to_string(), port, strerror(errno));
            ::usleep(50000);
            continue;
        }
        vmm::write_all(socket.get(), message.data(), message.size());
        ::shutdown(socket.get(), SHUT_WR);
        return vmm::read_all(socket.get());
    }
    return failure;
}

// A port nobody on the host uses now (the kernel's choice).
uint16_t free_port()
{
    vmm::FileDescriptor socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in bound {};
    bound.sin_family = AF_INET;
    ::bind(socket.get(), reinterpret_cast<sockaddr*>(&bound), sizeof(bound));
    socklen_t length = sizeof(bound);
    ::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&bound), &length);
    return ntohs(bound.sin_port);
}

class ContainerNetworkTest : public ContainerTest {
protected:
    void SetUp() override
    {
        ContainerTest::SetUp();
        if (IsSkipped() || HasFatalFailure())
            return;
        auto const pid = ::getpid();
        m_bridge = fmt::format("vmmc{}", pid % 100000);
        m_subnet = Subnet::parse(fmt::format("10.{}.{}.0/24", 150 + pid % 50, (pid / 50) % 256));
    }
    void TearDown() override
    {
        if (!m_bridge.empty() && !IsSkipped()) {
            EXPECT_EQ(leftovers(), "") << "the network was not cleaned up";
            vmm::network::delete_interface(m_bridge);
        }
        ContainerTest::TearDown();
    }

    // What is left of this test's containers: host-side veths on the
    // bridge's subnet, lease files, nftables rules of the bridge.
    std::string leftovers()
    {
        std::string found;
        for (auto address = m_subnet.first_lease(); address <= m_subnet.last_lease(); address.value++) {
            if (::if_nametoindex(vmm::network::host_interface_name_for(address).c_str()) != 0)
                found += "veth " + vmm::network::host_interface_name_for(address) + "; ";
        }
        if (std::filesystem::exists(lease_directory()) && !std::filesystem::is_empty(lease_directory()))
            found += "leases in " + lease_directory() + "; ";
        for (auto const& tag : vmm::network::instance_rule_tags()) {
            if (tag.starts_with("vmm:" + m_bridge + ":"))
                found += "rule " + tag + "; ";
        }
        for (auto const& bridge : vmm::network::bridges_with_nat()) {
            if (bridge == m_bridge)
                found += "NAT rules of " + bridge + "; ";
        }
        return found;
    }
    std::string lease_directory() const { return std::string(vmm::network::state_directory) + "/leases/" + m_bridge; }

    std::vector<std::string> bridge_options(std::vector<std::string> extra = {}) const
    {
        std::vector<std::string> options { "--net", "bridge", "--bridge", m_bridge, "--subnet", m_subnet.to_string() };
        options.insert(options.end(), extra.begin(), extra.end());
        return options;
    }
    Ipv4Address gateway() const { return m_subnet.gateway(); }
    // The test's bridge, made by a first container (it stays until TearDown).
    void create_bridge()
    {
        auto result = run_shell(rootfs_directory, "true", bridge_options());
        ASSERT_EQ(result.exit_status, 0) << describe(result);
        ASSERT_NE(::if_nametoindex(m_bridge.c_str()), 0u);
    }
    Ipv4Address address(unsigned offset) const { return { m_subnet.network().value + offset }; }

    void expect_refused(std::vector<std::string> const& arguments, std::string const& message, int run_as_uid = -1)
    {
        std::vector<std::string> full { "--container", rootfs_directory };
        full.insert(full.end(), arguments.begin(), arguments.end());
        full.insert(full.end(), { "--", "/bin/true" });
        auto result = run_vmm(full, 60, run_as_uid);
        EXPECT_NE(result.exit_status, 0) << describe(result);
        EXPECT_EQ(std::count(result.standard_error.begin(), result.standard_error.end(), '\n'), 1) << describe(result);
        EXPECT_NE(result.standard_error.find(message), std::string::npos) << "expected '" << message << "' in " << describe(result);
        EXPECT_EQ(leftovers(), "");
    }

    std::string m_bridge;
    Subnet m_subnet { Subnet::parse("10.150.0.0/24") };
};

}

TEST_F(ContainerNetworkTest, Eth0HasTheLeasedAddressTheBridgesMtuAndADefaultRoute)
{
    auto result = run_shell(rootfs_directory, "ip -4 -o addr show eth0; ip route; cat /sys/class/net/eth0/mtu /sys/class/net/eth0/address; hostname",
        bridge_options({ "--mac", "02:00:00:aa:bb:cc" }));
    ASSERT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_NE(result.standard_output.find("inet " + address(2).to_string() + "/24"), std::string::npos) << result.standard_output;
    EXPECT_NE(result.standard_output.find("default via " + gateway().to_string() + " dev eth0"), std::string::npos) << result.standard_output;
    EXPECT_NE(result.standard_output.find("\n1500\n02:00:00:aa:bb:cc\n"), std::string::npos) << result.standard_output;
}

TEST_F(ContainerNetworkTest, NamesResolveThroughTheHostsResolverConfiguration)
{
    auto const host_file = vmm::network::host_resolver_configuration();
    if (host_file.empty())
        GTEST_SKIP() << "this host's resolv.conf names only loopback name servers, which a container cannot reach";
    std::ifstream file(host_file);
    std::string const expected((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    // Shown read-only: the container cannot change the host's file.
    auto result = run_shell(rootfs_directory, "cat /etc/resolv.conf; (echo x >>/etc/resolv.conf) 2>/dev/null && echo written; true", bridge_options());
    ASSERT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, expected) << describe(result);
    // Without the bridge the tree keeps its own file.
    auto none = run_shell(rootfs_directory, "cat /etc/resolv.conf 2>/dev/null; true");
    EXPECT_NE(none.standard_output, expected);
}

TEST_F(ContainerNetworkTest, TcpBothWaysAndAPublishedPortAnswerFromTheHost)
{
    create_bridge();
    HostServer server(gateway(), 1);
    auto const host_port = free_port();
    auto const fixed = address(7);
    // The container echoes one connection on port 7000 (published), then
    // connects to the host's server and prints its answer.
    auto script = fmt::format("nc -l -p 7000 -e /bin/cat; echo from-the-container | nc -w 10 {} {}", gateway().to_string(), server.port());
    std::string direct_answer;
    std::string published_answer;
    // Retries until the container listens; its address is on the test's bridge only.
    std::thread host_side([&] { direct_answer = exchange(m_bridge, fixed, 7000, "host to container"); });
    auto result = run_shell(rootfs_directory, script, bridge_options({ "--ip", fixed.to_string(), "-p", fmt::format("{}:7000", host_port) }));
    host_side.join();
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(direct_answer, "host to container");
    EXPECT_EQ(result.standard_output, "FROM-THE-CONTAINER\n") << describe(result);
    EXPECT_EQ(server.wait(), std::vector<std::string> { "from-the-container\n" });

    // The published port, through a host address (the gateway's) and
    // through 127.0.0.1, reaches the container's port 7000.
    for (auto const& [host_address, device] : { std::pair { gateway(), m_bridge }, { Ipv4Address::parse("127.0.0.1", "x"), std::string("lo") } }) {
        std::thread published([&] { published_answer = exchange(device, host_address, host_port, "through the published port"); });
        result = run_shell(rootfs_directory, "nc -l -p 7000 -e /bin/cat", bridge_options({ "-p", fmt::format("{}:7000/tcp", host_port) }));
        published.join();
        EXPECT_EQ(result.exit_status, 0) << describe(result);
        EXPECT_EQ(published_answer, "through the published port") << "via " << host_address.to_string();
    }
}

TEST_F(ContainerNetworkTest, TwentyParallelContainersGetDistinctAddressesAndAllReachTheHost)
{
    constexpr int count = 20;
    create_bridge();
    HostServer server(gateway(), count, HostServer::Barrier::AllConnections);
    std::vector<std::thread> runs;
    std::vector<RunResult> results(count);
    auto const script = fmt::format("ip -4 -o addr show eth0 | sed 's/.*inet \\([0-9.]*\\).*/\\1/' | nc -w 40 {} {}", gateway().to_string(), server.port());
    for (int index = 0; index < count; ++index)
        runs.emplace_back([&, index] { results[index] = run_shell(rootfs_directory, script, bridge_options()); });
    for (auto& run : runs)
        run.join();
    std::set<std::string> answers;
    for (auto const& result : results) {
        EXPECT_EQ(result.exit_status, 0) << describe(result);
        answers.insert(result.standard_output);
    }
    auto const received = server.wait();
    std::set<std::string> addresses(received.begin(), received.end());
    EXPECT_EQ(received.size(), size_t(count));
    EXPECT_EQ(addresses.size(), size_t(count)) << "two containers had the same address";
    EXPECT_EQ(answers.size(), size_t(count));
    for (auto const& text : addresses)
        EXPECT_TRUE(m_subnet.contains(Ipv4Address::parse(text.substr(0, text.find('\n')), "address"))) << text;
}

TEST_F(ContainerNetworkTest, ANewRunSweepsWhatAKilledVmmLeft)
{
    auto const host_port = free_port();
    auto arguments = std::vector<std::string> { "--container", rootfs_directory };
    for (auto const& option : bridge_options({ "-p", fmt::format("{}:80", host_port) }))
        arguments.push_back(option);
    arguments.insert(arguments.end(), { "--", "/bin/sh", "-c", "echo ready; sleep 60" });
    pid_t pid = start_vmm_until_output(arguments);
    ASSERT_GT(pid, 0);
    ASSERT_NE(leftovers(), "") << "the running container has no lease or rules";
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    // Its lease and rules stay until someone sweeps; any run as root does
    // (so not asserted here: a test running at the same time may be first).
    auto result = run_shell(rootfs_directory, "true");
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(leftovers(), "");
    // And the published port is free again.
    result = run_shell(rootfs_directory, "true", bridge_options({ "-p", fmt::format("{}:80", host_port) }));
    EXPECT_EQ(result.exit_status, 0) << describe(result);
}

TEST_F(ContainerNetworkTest, BadInputIsOneLineAndLeavesNothing)
{
    expect_refused({ "--net", "bridge", "--bridge", m_bridge, "--subnet", "10.1.2.3" }, "--subnet: '10.1.2.3' is not a subnet");
    expect_refused({ "--net", "bridge", "--bridge", m_bridge, "--subnet", "10.1.2.3/24" }, "did you mean 10.1.2.0/24?");
    expect_refused({ "--net", "bridge", "--bridge", m_bridge, "--subnet", "127.0.0.0/16" }, "overlaps 127.0.0.0/8, a loopback range");
    expect_refused({ "--net", "bridge", "--bridge", m_bridge, "--subnet", "224.1.0.0/24" }, "overlaps 224.0.0.0/4, a multicast range");
    // Given empty is given, not the default.
    expect_refused({ "--net", "bridge", "--bridge", "" }, "--bridge '': a bridge name has 1 to 15 letters");
    expect_refused({ "--net", "bridge", "--subnet", "" }, "--subnet: '' is not a subnet");
    expect_refused({ "--net", "bridge", "--ip", "" }, "--ip: '' is not an IPv4 address");
    expect_refused({ "--net", "bridge", "--mac", "" }, "--mac: '' is not a MAC address");
    EXPECT_EQ(::if_nametoindex(m_bridge.c_str()), 0u) << "a refused subnet left its bridge";
    expect_refused(bridge_options({ "-p", "70000:80" }), "-p '70000:80': ports are whole numbers from 1 to 65535");
    expect_refused(bridge_options({ "-p", "8080:80/sctp" }), "the protocol must be tcp or udp");
    expect_refused(bridge_options({ "--ip", address(1).to_string() }), "is the network, gateway or broadcast address");
    expect_refused(bridge_options({ "--ip", "10.0.0.1.1" }), "--ip: '10.0.0.1.1' is not an IPv4 address");
    expect_refused(bridge_options({ "--mac", "01:00:5e:00:00:01" }), "multicast");
    expect_refused({ "--net", "none", "-p", "8080:80" }, "-p needs --net bridge");
    expect_refused({ "--bridge", "../etc", "--net", "bridge" }, "a bridge name has 1 to 15 letters");

    // A host port a host program holds.
    vmm::FileDescriptor busy(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in bound {};
    bound.sin_family = AF_INET;
    ASSERT_EQ(::bind(busy.get(), reinterpret_cast<sockaddr*>(&bound), sizeof(bound)), 0);
    socklen_t length = sizeof(bound);
    ::getsockname(busy.get(), reinterpret_cast<sockaddr*>(&bound), &length);
    expect_refused(bridge_options({ "-p", fmt::format("{}:80", ntohs(bound.sin_port)) }), "is in use on the host");

    // A host port another container publishes, an address it holds, and a
    // subnet it exhausts (a /30 has one address to lease): on a new bridge.
    vmm::network::delete_interface(m_bridge);
    auto const host_port = free_port();
    auto arguments = std::vector<std::string> { "--container", rootfs_directory, "--net", "bridge", "--bridge", m_bridge, "--subnet",
        Subnet(m_subnet.network(), 30).to_string(), "-p", fmt::format("{}:80", host_port), "--", "/bin/sh", "-c", "echo ready; sleep 60" };
    pid_t pid = start_vmm_until_output(arguments);
    ASSERT_GT(pid, 0);
    auto const holder = std::to_string(pid);
    // The bridge now has the /30, whose one address the container holds.
    std::string const held = fmt::format("{}", address(2).to_string());
    auto result = run_vmm({ "--container", rootfs_directory, "--net", "bridge", "--bridge", m_bridge, "-p", fmt::format("{}:81", host_port), "--", "true" });
    EXPECT_EQ(result.exit_status, 1) << describe(result);
    EXPECT_NE(result.standard_error.find("already published by vmm (PID " + holder + ")"), std::string::npos) << describe(result);
    result = run_vmm({ "--container", rootfs_directory, "--net", "bridge", "--bridge", m_bridge, "--ip", held, "--", "true" });
    EXPECT_NE(result.standard_error.find("--ip " + held + " is in use by PID " + holder), std::string::npos) << describe(result);
    result = run_vmm({ "--container", rootfs_directory, "--net", "bridge", "--bridge", m_bridge, "--", "true" });
    EXPECT_NE(result.standard_error.find("is exhausted"), std::string::npos) << describe(result);

    result = run_vmm({ "--container", rootfs_directory, "--net", "bridge", "--bridge", m_bridge, "--subnet", m_subnet.to_string(), "--", "true" });
    EXPECT_NE(result.standard_error.find("has subnet " + Subnet(m_subnet.network(), 30).to_string()), std::string::npos) << describe(result);
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    EXPECT_EQ(leftovers(), "");
}

// Two interfaces with one MAC on a bridge take turns in its forwarding table.
TEST_F(ContainerNetworkTest, AMacInUseOnTheBridgeIsRefused)
{
    auto const mac = std::string("02:00:00:00:00:42");
    auto arguments = std::vector<std::string> { "--container", rootfs_directory };
    for (auto const& option : bridge_options({ "--mac", mac }))
        arguments.push_back(option);
    arguments.insert(arguments.end(), { "--", "/bin/sh", "-c", "echo ready; sleep 60" });
    pid_t pid = start_vmm_until_output(arguments);
    ASSERT_GT(pid, 0);
    auto refused = std::vector<std::string> { "--container", rootfs_directory };
    for (auto const& option : bridge_options({ "--mac", mac }))
        refused.push_back(option);
    refused.insert(refused.end(), { "--", "true" });
    auto const result = run_vmm(refused);
    EXPECT_EQ(result.exit_status, 1) << describe(result);
    EXPECT_EQ(result.standard_error, fmt::format("vmm: --container: --mac {} is in use by PID {}\n", mac, pid)) << describe(result);
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    EXPECT_EQ(leftovers(), "");
}

TEST_F(ContainerNetworkTest, WithoutRootBridgeModeSaysItNeedsRoot)
{
    expect_refused(bridge_options(), "--net bridge needs root", 65534);
}
