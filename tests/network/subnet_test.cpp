#include "common/Error.h"
#include "network/Address.h"
#include "network/PortMapping.h"

#include <gtest/gtest.h>
#include <string>

using vmm::network::Ipv4Address;
using vmm::network::MacAddress;
using vmm::network::PortMapping;
using vmm::network::Subnet;

namespace {

std::string parse_error(std::string const& text)
{
    try {
        Subnet::parse(text);
    } catch (vmm::Error const& error) {
        return error.what();
    }
    ADD_FAILURE() << "'" << text << "' was accepted";
    return {};
}

}

TEST(Subnet, ParsesAndDerivesTheGatewayAndLeaseRange)
{
    auto const subnet = Subnet::parse("10.88.0.0/16");
    EXPECT_EQ(subnet.to_string(), "10.88.0.0/16");
    EXPECT_EQ(subnet.gateway().to_string(), "10.88.0.1");
    EXPECT_EQ(subnet.first_lease().to_string(), "10.88.0.2");
    EXPECT_EQ(subnet.last_lease().to_string(), "10.88.255.254");
    EXPECT_EQ(subnet.broadcast().to_string(), "10.88.255.255");
    EXPECT_TRUE(subnet.contains(Ipv4Address::parse("10.88.3.4", "x")));
    EXPECT_FALSE(subnet.contains(Ipv4Address::parse("10.89.0.1", "x")));
    EXPECT_FALSE(subnet.can_lease(subnet.gateway()));
    EXPECT_FALSE(subnet.can_lease(subnet.broadcast()));
    auto const smallest = Subnet::parse("192.168.7.4/30");
    EXPECT_EQ(smallest.first_lease(), smallest.last_lease());
}

TEST(Subnet, RefusesWhatIsNotASubnetWithOneLine)
{
    EXPECT_NE(parse_error("10.88.0.0").find("is not a subnet"), std::string::npos);
    EXPECT_NE(parse_error("10.88.0/16").find("is not a subnet"), std::string::npos);
    EXPECT_NE(parse_error("10.88.0.256/24").find("is not a subnet"), std::string::npos);
    EXPECT_NE(parse_error("10.88.0.0/33").find("is not a subnet"), std::string::npos);
    EXPECT_NE(parse_error("10.88.0.0/-1").find("is not a subnet"), std::string::npos);
    EXPECT_NE(parse_error("10.88.0.0/16x").find("is not a subnet"), std::string::npos);
    EXPECT_NE(parse_error("banana").find("is not a subnet"), std::string::npos);
    EXPECT_NE(parse_error("10.88.0.1/16").find("did you mean 10.88.0.0/16?"), std::string::npos);
    EXPECT_NE(parse_error("10.88.0.0/31").find("/8 to /30"), std::string::npos);
    EXPECT_NE(parse_error("10.0.0.0/7").find("/8 to /30"), std::string::npos);
    for (auto const* text : { "10.88.0.0", "10.88.0.1/16", "1.2.3.4/31" })
        EXPECT_EQ(parse_error(text).find('\n'), std::string::npos);
}

TEST(Subnet, RefusesRangesNoInterfaceIsAddressedFrom)
{
    EXPECT_EQ(parse_error("224.1.0.0/24"),
        "--subnet: '224.1.0.0/24' overlaps 224.0.0.0/4, a multicast range; take a private one (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)");
    EXPECT_NE(parse_error("240.0.0.0/24").find("reserved (and broadcast)"), std::string::npos);
    EXPECT_NE(parse_error("255.255.1.0/24").find("reserved (and broadcast)"), std::string::npos);
    EXPECT_NE(parse_error("0.1.0.0/24").find("\"this network\""), std::string::npos);
    EXPECT_NE(parse_error("127.0.0.0/16").find("loopback"), std::string::npos);
    EXPECT_NE(parse_error("169.254.0.0/24").find("link-local"), std::string::npos);
    // A prefix around a reserved range overlaps it too.
    EXPECT_NE(parse_error("224.0.0.0/8").find("multicast"), std::string::npos);
    EXPECT_NO_THROW(Subnet::parse("223.255.255.0/24"));
    EXPECT_NO_THROW(Subnet::parse("172.16.0.0/12"));
}

TEST(Subnet, OverlapIsSymmetricAndExact)
{
    auto const a = Subnet::parse("10.88.0.0/16");
    auto const inside = Subnet::parse("10.88.4.0/24");
    auto const beside = Subnet::parse("10.89.0.0/16");
    EXPECT_TRUE(a.overlaps(inside));
    EXPECT_TRUE(inside.overlaps(a));
    EXPECT_TRUE(a.overlaps(a));
    EXPECT_FALSE(a.overlaps(beside));
    EXPECT_FALSE(beside.overlaps(a));
    // A host route (/32) inside and just outside.
    EXPECT_TRUE(a.overlaps(Subnet(Ipv4Address::parse("10.88.255.255", "x"), 32)));
    EXPECT_FALSE(a.overlaps(Subnet(Ipv4Address::parse("10.87.255.255", "x"), 32)));
}

TEST(Address, ParsesAddressesAndMacs)
{
    EXPECT_EQ(Ipv4Address::parse("192.0.2.10", "--ip").value, 0xc000020au);
    EXPECT_THROW(Ipv4Address::parse("192.0.2", "--ip"), vmm::Error);
    EXPECT_THROW(Ipv4Address::parse("192.0.2.1.5", "--ip"), vmm::Error);
    EXPECT_THROW(Ipv4Address::parse("1.2.3.1000", "--ip"), vmm::Error);
    // inet_aton would read 010 as octal: ambiguous, refused.
    EXPECT_THROW(Ipv4Address::parse("010.213.0.9", "--ip"), vmm::Error);
    EXPECT_EQ(Ipv4Address::parse("10.0.0.9", "--ip").value, 0x0a000009u);
    EXPECT_EQ(MacAddress::parse("02:AB:cd:00:11:ff", "--mac").to_string(), "02:ab:cd:00:11:ff");
    EXPECT_THROW(MacAddress::parse("03:00:00:00:00:01", "--mac"), vmm::Error); // Multicast.
    EXPECT_THROW(MacAddress::parse("00:00:00:00:00:00", "--mac"), vmm::Error);
    EXPECT_THROW(MacAddress::parse("02:00:00:00:00", "--mac"), vmm::Error);
    EXPECT_THROW(MacAddress::parse("02-00-00-00-00-01", "--mac"), vmm::Error);
    EXPECT_EQ(MacAddress::for_address(Ipv4Address::parse("10.88.0.5", "x")).to_string(), "02:76:0a:58:00:05");
}

TEST(PortMapping, ParsesHostPortPortAndProtocol)
{
    auto const tcp = PortMapping::parse("8080:80");
    EXPECT_EQ(tcp.host_port, 8080);
    EXPECT_EQ(tcp.port, 80);
    EXPECT_EQ(tcp.protocol, PortMapping::Protocol::Tcp);
    EXPECT_EQ(PortMapping::parse("5353:53/udp").protocol, PortMapping::Protocol::Udp);
    EXPECT_EQ(PortMapping::parse("1:65535/tcp").to_string(), "1:65535/tcp");
    for (auto const* text : { "80", "0:80", "65536:80", "80:0", "80:80/sctp", "a:80", "80:", ":80", "-1:80", "80:80/" }) {
        try {
            PortMapping::parse(text);
            ADD_FAILURE() << text << " was accepted";
        } catch (vmm::Error const& error) {
            EXPECT_NE(std::string(error.what()).find(text), std::string::npos) << error.what();
        }
    }
}
