// Which resolv.conf a container or VM on the bridge gets
// (network/ResolverConfiguration.h): one that names a name server it can
// reach through the NAT; and the IPv4 name servers a VM is given from it.
#include "network/ResolverConfiguration.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <unistd.h>

using vmm::network::ipv4_name_servers;
using vmm::network::usable_resolver_configuration;

namespace {

class ResolverConfiguration : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_directory = std::filesystem::temp_directory_path() / ("vmm-resolver-" + std::to_string(::getpid()));
        std::filesystem::create_directories(m_directory);
    }
    void TearDown() override { std::filesystem::remove_all(m_directory); }

    std::string write(std::string const& name, std::string const& text)
    {
        auto const path = (m_directory / name).string();
        std::ofstream(path) << text;
        return path;
    }

    std::filesystem::path m_directory;
};

}

TEST_F(ResolverConfiguration, AHostFileWithReachableServersIsTaken)
{
    std::string const candidates[] = { write("host", "search example\nnameserver 10.0.0.2\nnameserver 192.0.2.53\n"), write("upstream", "nameserver 10.9.9.9\n") };
    EXPECT_EQ(usable_resolver_configuration(candidates), candidates[0]);
}

TEST_F(ResolverConfiguration, ALoopbackStubSendsToTheUpstreamList)
{
    // systemd-resolved's stub (127.0.0.53) and a local ::1 resolver are not
    // reachable from the container's network namespace.
    std::string const candidates[] = { write("stub", "nameserver 127.0.0.53\noptions edns0\n"), write("local6", "nameserver ::1\n"),
        write("upstream", "nameserver 10.9.9.9\n") };
    EXPECT_EQ(usable_resolver_configuration(candidates), candidates[2]);
}

TEST_F(ResolverConfiguration, NothingUsableLeavesTheTreesOwnFile)
{
    std::string const candidates[] = { write("stub", "nameserver 127.0.0.53\n"), write("empty", "search example\n"), (m_directory / "missing").string() };
    EXPECT_EQ(usable_resolver_configuration(candidates), "");
}

TEST_F(ResolverConfiguration, AVmGetsAtMostThreeIpv4NameServers)
{
    auto const path = write("mixed", "# nameserver 10.0.0.1\nsearch example\nnameserver 2001:db8::53\nnameserver 192.0.2.1\n"
                                     "nameserver\tbogus\nnameserver 192.0.2.2\nnameserver 192.0.2.3\nnameserver 192.0.2.4\n");
    auto const servers = ipv4_name_servers(path);
    ASSERT_EQ(servers.size(), 3u);
    EXPECT_EQ(servers[0].to_string(), "192.0.2.1");
    EXPECT_EQ(servers[1].to_string(), "192.0.2.2");
    EXPECT_EQ(servers[2].to_string(), "192.0.2.3");
    EXPECT_TRUE(ipv4_name_servers((m_directory / "missing").string()).empty());
}
