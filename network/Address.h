#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vmm::network {

// An IPv4 address in host byte order, so that arithmetic on it (the next
// address, a prefix's mask) reads as arithmetic.
struct Ipv4Address {
    uint32_t value { 0 };

    // "10.88.0.5"; throws vmm::Error "OPTION: 'TEXT' is not an IPv4 address".
    static Ipv4Address parse(std::string_view text, std::string_view option);
    // The same without an error: nothing unless `text` is an IPv4 address.
    static std::optional<Ipv4Address> try_parse(std::string_view text);
    std::string to_string() const;
    // Network byte order, as struct in_addr and netlink want it.
    uint32_t network_order() const;
    auto operator<=>(Ipv4Address const&) const = default;
};

// An Ethernet address.
struct MacAddress {
    std::array<uint8_t, 6> bytes {};

    // "02:76:0a:58:00:05"; throws vmm::Error naming `option` unless the text
    // is six hex pairs of a unicast address (multicast and all-zero refused).
    static MacAddress parse(std::string_view text, std::string_view option);
    // The locally administered unicast address vmm gives an instance at
    // `address` when --mac is not given: 02:76 ('v') then the four bytes of
    // the IPv4 address, so a MAC names its lease, as Docker's 02:42 does.
    static MacAddress for_address(Ipv4Address address);
    std::string to_string() const;
    auto operator<=>(MacAddress const&) const = default;
};

// An IPv4 network: an address whose host bits are zero and a prefix length.
class Subnet {
public:
    // The subnet `vmm0` gets unless --subnet says otherwise (podman's
    // default, which overlaps no route on the development hosts).
    static constexpr char const* default_text = "10.88.0.0/16";

    // "10.88.0.0/16". Throws vmm::Error naming `option` for text that is not
    // ADDRESS/PREFIX, host bits that are set ("10.88.0.1/16 is not a subnet:
    // did you mean 10.88.0.0/16?"), or a prefix longer than /30 (no room for a
    // gateway and one instance) or shorter than /8.
    static Subnet parse(std::string_view text, std::string_view option = "--subnet");
    Subnet(Ipv4Address network, unsigned prefix_length);

    Ipv4Address network() const { return m_network; }
    unsigned prefix_length() const { return m_prefix_length; }
    uint32_t mask() const;
    Ipv4Address broadcast() const;
    // The host side of the bridge: the subnet's first address.
    Ipv4Address gateway() const { return { m_network.value + 1 }; }
    // The addresses instances are leased: after the gateway, before the broadcast.
    Ipv4Address first_lease() const { return { m_network.value + 2 }; }
    Ipv4Address last_lease() const { return { broadcast().value - 1 }; }
    bool can_lease(Ipv4Address address) const { return address >= first_lease() && address <= last_lease(); }

    bool contains(Ipv4Address address) const;
    bool overlaps(Subnet const& other) const;
    std::string to_string() const;
    bool operator==(Subnet const&) const = default;

private:
    Ipv4Address m_network;
    unsigned m_prefix_length;
};

}
