// Which resolv.conf a container on the bridge gets (container/OptionsSpec.h):
// one that names a name server the container can reach through the NAT.
#include "container/OptionsSpec.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <unistd.h>

using vmm::container::usable_resolver_configuration;

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
