#include "network/Address.h"

#include "common/Error.h"

#include <arpa/inet.h>
#include <charconv>
#include <fmt/format.h>

namespace vmm::network {

namespace {

bool parse_decimal(std::string_view text, unsigned& value, unsigned maximum)
{
    // A leading zero is refused: inet_aton and ping read "010" as octal 8.
    if (text.empty() || text.size() > 3 || (text.size() > 1 && text[0] == '0'))
        return false;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size() && value <= maximum;
}

bool parse_ipv4(std::string_view text, uint32_t& value)
{
    value = 0;
    for (int part = 0; part < 4; ++part) {
        auto const dot = text.find('.');
        if ((part < 3) != (dot != std::string_view::npos))
            return false;
        unsigned byte = 0;
        if (!parse_decimal(text.substr(0, dot), byte, 255))
            return false;
        value = value << 8 | byte;
        text = dot == std::string_view::npos ? std::string_view {} : text.substr(dot + 1);
    }
    return true;
}

int hex_digit(char character)
{
    if (character >= '0' && character <= '9')
        return character - '0';
    if (character >= 'a' && character <= 'f')
        return character - 'a' + 10;
    if (character >= 'A' && character <= 'F')
        return character - 'A' + 10;
    return -1;
}

}

Ipv4Address Ipv4Address::parse(std::string_view text, std::string_view option)
{
    Ipv4Address address;
    if (!parse_ipv4(text, address.value))
        throw Error(fmt::format("{}: '{}' is not an IPv4 address", option, text));
    return address;
}

std::optional<Ipv4Address> Ipv4Address::try_parse(std::string_view text)
{
    Ipv4Address address;
    if (!parse_ipv4(text, address.value))
        return std::nullopt;
    return address;
}

std::string Ipv4Address::to_string() const
{
    return fmt::format("{}.{}.{}.{}", value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff);
}

uint32_t Ipv4Address::network_order() const
{
    return htonl(value);
}

MacAddress MacAddress::parse(std::string_view text, std::string_view option)
{
    MacAddress mac;
    bool valid = text.size() == 17;
    for (size_t index = 0; valid && index < 6; ++index) {
        int const high = hex_digit(text[index * 3]);
        int const low = hex_digit(text[index * 3 + 1]);
        if (high < 0 || low < 0 || (index < 5 && text[index * 3 + 2] != ':')) {
            valid = false;
            break;
        }
        mac.bytes[index] = static_cast<uint8_t>(high << 4 | low);
    }
    if (!valid)
        throw Error(fmt::format("{}: '{}' is not a MAC address (six hex pairs, e.g. 02:00:00:00:00:01)", option, text));
    if (mac.bytes[0] & 1)
        throw Error(fmt::format("{}: '{}' is a multicast address; an interface needs a unicast one", option, text));
    if (mac == MacAddress {})
        throw Error(fmt::format("{}: '{}' is the all-zero address", option, text));
    return mac;
}

MacAddress MacAddress::for_address(Ipv4Address address)
{
    return { { 0x02, 0x76, static_cast<uint8_t>(address.value >> 24), static_cast<uint8_t>(address.value >> 16),
        static_cast<uint8_t>(address.value >> 8), static_cast<uint8_t>(address.value) } };
}

std::string MacAddress::to_string() const
{
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]);
}

Subnet Subnet::parse(std::string_view text, std::string_view option)
{
    auto const slash = text.find('/');
    uint32_t network = 0;
    unsigned prefix_length = 0;
    if (slash == std::string_view::npos || !parse_ipv4(text.substr(0, slash), network) || !parse_decimal(text.substr(slash + 1), prefix_length, 32))
        throw Error(fmt::format("{}: '{}' is not a subnet (ADDRESS/PREFIX, e.g. {})", option, text, default_text));
    if (prefix_length < 8 || prefix_length > 30)
        throw Error(fmt::format("{}: '{}' has a /{} prefix; vmm takes /8 to /30 (a gateway and at least one instance)", option, text, prefix_length));
    Subnet subnet({ network }, prefix_length);
    if (subnet.network().value != network)
        throw Error(fmt::format("{}: '{}' is not a subnet: its host bits are set (did you mean {}?)", option, text, subnet.to_string()));
    // Ranges no interface can be addressed from (RFC 6890): the kernel
    // takes some of them on the bridge, then fails on the route through it.
    struct Reserved {
        uint32_t network;
        unsigned prefix_length;
        char const* what;
    };
    static constexpr Reserved reserved[] = {
        { 0x00000000, 8, "\"this network\"" },
        { 0x7f000000, 8, "loopback" },
        { 0xa9fe0000, 16, "link-local" },
        { 0xe0000000, 4, "multicast" },
        { 0xf0000000, 4, "reserved (and broadcast)" },
    };
    for (auto const& range : reserved) {
        Subnet const reserved_range({ range.network }, range.prefix_length);
        if (subnet.overlaps(reserved_range))
            throw Error(fmt::format("{}: '{}' overlaps {}, a {} range; take a private one (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)", option, text,
                reserved_range.to_string(), range.what));
    }
    return subnet;
}

Subnet::Subnet(Ipv4Address network, unsigned prefix_length)
    : m_network(network)
    , m_prefix_length(prefix_length)
{
    m_network.value &= mask();
}

uint32_t Subnet::mask() const
{
    return m_prefix_length == 0 ? 0 : ~uint32_t(0) << (32 - m_prefix_length);
}

Ipv4Address Subnet::broadcast() const
{
    return { m_network.value | ~mask() };
}

bool Subnet::contains(Ipv4Address address) const
{
    return (address.value & mask()) == m_network.value;
}

bool Subnet::overlaps(Subnet const& other) const
{
    // Two prefixes overlap exactly when the shorter one contains the other's network.
    return m_prefix_length <= other.m_prefix_length ? contains(other.m_network) : other.contains(m_network);
}

std::string Subnet::to_string() const
{
    return fmt::format("{}/{}", m_network.to_string(), m_prefix_length);
}

}
