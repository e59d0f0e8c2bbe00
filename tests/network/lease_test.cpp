#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "network/Lease.h"

#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <set>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace vmm::network;

namespace {

// Leases of a made-up bridge: Lease never touches the interface itself, so
// these tests need /run/vmm (root) but make no links or rules.
class LeaseTest : public testing::Test {
protected:
    void SetUp() override
    {
        if (::geteuid() != 0)
            GTEST_SKIP() << "leases live under /run/vmm, which needs root";
        m_bridge.name = "vmmtest" + std::to_string(::getpid() % 100000);
        m_bridge.subnet = Subnet::parse("10.250.0.0/29"); // Gateway .1, leases .2 to .6.
    }
    void TearDown() override
    {
        if (!m_bridge.name.empty())
            std::filesystem::remove_all(std::string(state_directory) + "/leases/" + m_bridge.name);
    }
    Lease acquire(std::optional<Ipv4Address> fixed = std::nullopt, std::vector<PortMapping> ports = {}, std::optional<MacAddress> mac = std::nullopt)
    {
        NetworkLock lock;
        return Lease::acquire(m_bridge, InstanceKind::Container, fixed, mac, ports);
    }
    std::string acquire_error(std::optional<Ipv4Address> fixed, std::vector<PortMapping> ports = {}, std::optional<MacAddress> mac = std::nullopt)
    {
        try {
            acquire(fixed, ports, mac);
        } catch (vmm::Error const& error) {
            return error.what();
        }
        ADD_FAILURE() << "the lease was granted";
        return {};
    }
    // A child takes the first lease (10.250.0.2) and is killed with it.
    void leave_a_killed_holders_lease()
    {
        pid_t child = ::fork();
        if (child == 0) {
            try {
                auto lease = acquire();
                ::pause();
            } catch (...) {
            }
            ::_exit(1);
        }
        for (int attempt = 0; attempt < 500 && live_leases(m_bridge.name).empty(); ++attempt)
            ::usleep(10000);
        ASSERT_EQ(live_leases(m_bridge.name).size(), 1u);
        ::kill(child, SIGKILL);
        ::waitpid(child, nullptr, 0);
    }
    BridgeInfo m_bridge { {}, 0, Subnet::parse("10.250.0.0/29"), 1500, std::nullopt };
};

Ipv4Address address(char const* text)
{
    return Ipv4Address::parse(text, "test");
}

}

TEST_F(LeaseTest, GivesTheLowestFreeAddressesAndReusesReleasedOnes)
{
    auto first = acquire();
    auto second = acquire();
    EXPECT_EQ(first.address().to_string(), "10.250.0.2");
    EXPECT_EQ(second.address().to_string(), "10.250.0.3");
    EXPECT_EQ(first.host_interface_name(), "vmm0afa0002");
    EXPECT_EQ(first.rule_tag(), "vmm:" + m_bridge.name + ":10.250.0.2");
    {
        NetworkLock lock;
        first.release();
    }
    EXPECT_EQ(acquire().address().to_string(), "10.250.0.2");
    EXPECT_EQ(live_leases(m_bridge.name).size(), 1u);
}

TEST_F(LeaseTest, ExhaustionAndFixedAddressesAreOneLineErrors)
{
    std::vector<Lease> leases;
    for (int index = 0; index < 5; ++index)
        leases.push_back(acquire());
    auto const exhausted = acquire_error(std::nullopt);
    EXPECT_NE(exhausted.find("exhausted"), std::string::npos) << exhausted;
    EXPECT_NE(acquire_error(address("10.250.0.4")).find("in use by PID " + std::to_string(::getpid())), std::string::npos);
    EXPECT_NE(acquire_error(address("10.250.0.1")).find("gateway"), std::string::npos);
    EXPECT_NE(acquire_error(address("10.250.0.7")).find("gateway or broadcast"), std::string::npos);
    EXPECT_NE(acquire_error(address("10.251.0.2")).find("is not in"), std::string::npos);
    leases.clear(); // Each releases itself.
    EXPECT_TRUE(live_leases(m_bridge.name).empty());
    EXPECT_EQ(acquire(address("10.250.0.5")).address().to_string(), "10.250.0.5");
}

TEST_F(LeaseTest, APublishedHostPortIsRefusedToASecondInstance)
{
    auto first = acquire(std::nullopt, { PortMapping::parse("18080:80") });
    auto const error = acquire_error(std::nullopt, { PortMapping::parse("18080:81/tcp") });
    EXPECT_NE(error.find("already published by vmm"), std::string::npos) << error;
    // The same number over UDP is another port.
    EXPECT_NO_THROW(acquire(std::nullopt, { PortMapping::parse("18080:80/udp") }));
}

TEST_F(LeaseTest, AMacInUseOnTheBridgeIsRefusedAndADefaultOneIsSkipped)
{
    m_bridge.mac = MacAddress::parse("02:76:0a:fa:00:01", "test");
    auto const chosen = MacAddress::parse("02:00:00:00:00:42", "test");
    auto first = acquire(std::nullopt, {}, chosen);
    EXPECT_EQ(first.mac(), chosen);
    auto const in_use = acquire_error(std::nullopt, {}, chosen);
    EXPECT_EQ(in_use, fmt::format("--mac 02:00:00:00:00:42 is in use by PID {}", ::getpid()));
    auto const bridges = acquire_error(std::nullopt, {}, m_bridge.mac);
    EXPECT_EQ(bridges, fmt::format("--mac 02:76:0a:fa:00:01 is {}'s own", m_bridge.name));
    // An instance at .3 with .4's default MAC: the next free address is
    // one whose default MAC is free too, and .4 itself is refused.
    auto second = acquire(std::nullopt, {}, MacAddress::for_address(address("10.250.0.4")));
    EXPECT_EQ(second.address().to_string(), "10.250.0.3");
    auto third = acquire();
    EXPECT_EQ(third.address().to_string(), "10.250.0.5");
    EXPECT_EQ(third.mac(), MacAddress::for_address(address("10.250.0.5")));
    auto const fixed = acquire_error(address("10.250.0.4"), {}, std::nullopt);
    EXPECT_EQ(fixed, "--ip 10.250.0.4: its MAC 02:76:0a:fa:00:04 is in use by PID " + std::to_string(::getpid()) + " (give another with --mac)");
}

TEST_F(LeaseTest, AKilledHoldersLeaseIsFreeAndSwept)
{
    ASSERT_NO_FATAL_FAILURE(leave_a_killed_holders_lease());
    EXPECT_TRUE(live_leases(m_bridge.name).empty());
    auto const path = std::string(state_directory) + "/leases/" + m_bridge.name + "/10.250.0.2";
    EXPECT_TRUE(std::filesystem::exists(path));
    {
        NetworkLock lock;
        sweep_stale_leases();
    }
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_EQ(acquire().address().to_string(), "10.250.0.2");
}

TEST_F(LeaseTest, ADeadHoldersLeaseIsSweptWhileAnotherVmmProbesIt)
{
    ASSERT_NO_FATAL_FAILURE(leave_a_killed_holders_lease());
    // Another vmm's probe of the dead lease, caught while it holds its lock.
    auto const path = std::string(state_directory) + "/leases/" + m_bridge.name + "/10.250.0.2";
    vmm::FileDescriptor prober(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(prober.is_valid());
    ASSERT_EQ(::flock(prober.get(), LOCK_SH), 0);
    EXPECT_TRUE(live_leases(m_bridge.name).empty()) << "a probe was taken for the lease's holder";
    sweep_stale_leases_if_any();
    EXPECT_FALSE(std::filesystem::exists(path));
    // Its address is free again, also while the prober still has the old file.
    EXPECT_EQ(acquire().address().to_string(), "10.250.0.2");
}

TEST_F(LeaseTest, ParallelProcessesGetDistinctAddresses)
{
    m_bridge.subnet = Subnet::parse("10.250.0.0/24");
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    std::vector<pid_t> children;
    for (int index = 0; index < 20; ++index) {
        pid_t child = ::fork();
        if (child == 0) {
            ::close(pipe_fds[0]);
            try {
                auto lease = acquire();
                auto const value = lease.address().value;
                (void)!::write(pipe_fds[1], &value, sizeof(value));
                ::usleep(300000); // Held while the others lease.
            } catch (...) {
            }
            ::_exit(0);
        }
        children.push_back(child);
    }
    ::close(pipe_fds[1]);
    std::set<uint32_t> addresses;
    uint32_t value;
    while (::read(pipe_fds[0], &value, sizeof(value)) == sizeof(value))
        addresses.insert(value);
    ::close(pipe_fds[0]);
    for (auto child : children)
        ::waitpid(child, nullptr, 0);
    EXPECT_EQ(addresses.size(), 20u);
}
