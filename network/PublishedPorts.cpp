#include "network/PublishedPorts.h"

#include "common/Error.h"
#include "network/Nftables.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace vmm::network {

namespace {

std::optional<uint16_t> parse_port(std::string_view text)
{
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < 1 || value > 65535)
        return std::nullopt;
    return static_cast<uint16_t>(value);
}

// The chains of vmm's table: destination NAT for packets that arrive and
// for the host's own, source NAT on the way out.
std::string table_definition()
{
    return fmt::format("add table {0}\n"
                       "add chain {0} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n"
                       "add chain {0} output {{ type nat hook output priority -100; policy accept; }}\n"
                       "add chain {0} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n"
                       "add chain {0} guard {{ type filter hook prerouting priority raw; policy accept; }}\n",
        nftables_table);
}

std::string comment_of(nlohmann::json const& rule)
{
    auto const found = rule.find("comment");
    return found != rule.end() && found->is_string() ? found->get<std::string>() : std::string {};
}

// Deletes, in one transaction, the rules whose comment `matches`.
template<typename Predicate>
void remove_rules_where(Nftables& nftables, nlohmann::json const& rules, Predicate matches)
{
    std::string commands;
    for (auto const& rule : rules) {
        if (matches(comment_of(rule)))
            commands += fmt::format("delete rule {} {} handle {}\n", nftables_table, rule["chain"].get<std::string>(), rule["handle"].get<uint64_t>());
    }
    if (!commands.empty())
        nftables.run(commands, "delete rules");
}

std::string bridge_tag(std::string const& bridge)
{
    return "vmm:" + bridge;
}

}

PortMapping PortMapping::parse(std::string_view text)
{
    PortMapping mapping;
    std::string_view ports = text;
    if (auto const slash = text.find('/'); slash != std::string_view::npos) {
        auto const protocol = text.substr(slash + 1);
        if (protocol == "tcp")
            mapping.protocol = Protocol::Tcp;
        else if (protocol == "udp")
            mapping.protocol = Protocol::Udp;
        else
            throw Error(fmt::format("-p '{}': the protocol must be tcp or udp", text));
        ports = text.substr(0, slash);
    }
    auto const colon = ports.find(':');
    if (colon == std::string_view::npos)
        throw Error(fmt::format("-p '{}': expected HOST_PORT:PORT[/tcp|udp]", text));
    auto const host_port = parse_port(ports.substr(0, colon));
    auto const port = parse_port(ports.substr(colon + 1));
    if (!host_port || !port)
        throw Error(fmt::format("-p '{}': ports are whole numbers from 1 to 65535", text));
    mapping.host_port = *host_port;
    mapping.port = *port;
    return mapping;
}

std::string PortMapping::to_string() const
{
    return fmt::format("{}:{}/{}", host_port, port, protocol_name());
}

std::vector<FileDescriptor> reserve_host_ports(std::vector<PortMapping> const& ports)
{
    std::vector<FileDescriptor> sockets;
    for (auto const& mapping : ports) {
        int const type = mapping.protocol == PortMapping::Protocol::Tcp ? SOCK_STREAM : SOCK_DGRAM;
        FileDescriptor socket(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
        if (!socket.is_valid())
            throw_system_error("socket", fmt::format("(host port {}/{})", mapping.host_port, mapping.protocol_name()));
        sockaddr_in address {};
        address.sin_family = AF_INET;
        address.sin_port = htons(mapping.host_port);
        address.sin_addr.s_addr = htonl(INADDR_ANY);
        if (::bind(socket.get(), reinterpret_cast<sockaddr const*>(&address), sizeof(address)) < 0) {
            if (errno == EADDRINUSE)
                throw Error(fmt::format("-p {}: host port {}/{} is in use on the host", mapping.to_string(), mapping.host_port, mapping.protocol_name()));
            throw_system_error("bind", fmt::format("(host port {}/{})", mapping.host_port, mapping.protocol_name()));
        }
        sockets.push_back(std::move(socket));
    }
    return sockets;
}

void ensure_bridge_nat(std::string const& bridge, std::string const& subnet)
{
    Nftables nftables;
    auto const tag = bridge_tag(bridge);
    if (auto rules = nftables.list_rules()) {
        for (auto const& rule : *rules) {
            if (comment_of(rule) == tag)
                return;
        }
    }
    // Outbound: the subnet leaves with the host's address. Hairpin: an
    // instance that reaches another's published port through the host
    // must see the answer come from the host, so such flows are
    // masqueraded on their way back into the bridge.
    // Loopback: the host's connections to 127.0.0.1:HOST_PORT leave with
    // the gateway's address; and the guard drops packets from instances to
    // 127.0.0.0/8, which route_localnet would otherwise deliver.
    nftables.run(table_definition()
            + fmt::format("add rule {0} postrouting ip saddr {1} ip daddr != {1} masquerade comment \"{2}\"\n"
                          "add rule {0} postrouting oifname \"{3}\" ip saddr {1} ct status dnat masquerade comment \"{2}\"\n"
                          "add rule {0} postrouting oifname \"{3}\" ip saddr 127.0.0.0/8 masquerade comment \"{2}\"\n"
                          "add rule {0} guard iifname \"{3}\" ip daddr 127.0.0.0/8 drop comment \"{2}\"\n",
                nftables_table, subnet, tag, bridge),
        fmt::format("outbound NAT of {}", bridge));
}

void remove_bridge_nat(std::string const& bridge)
{
    Nftables nftables;
    auto rules = nftables.list_rules();
    if (!rules)
        return;
    auto const tag = bridge_tag(bridge);
    remove_rules_where(nftables, *rules, [&](std::string const& comment) { return comment == tag; });
    bool others = false;
    for (auto const& rule : *rules)
        others = others || comment_of(rule) != tag;
    if (!others)
        nftables.run(fmt::format("delete table {}", nftables_table), "delete table");
}

void publish_ports(std::string const& tag, Ipv4Address address, std::vector<PortMapping> const& ports)
{
    if (ports.empty())
        return;
    std::string commands = table_definition();
    for (auto const& mapping : ports) {
        // Packets to any of the host's own addresses, arriving (loopback
        // cannot arrive from outside) or made here (127.0.0.1 included).
        auto const forward = fmt::format("{} dport {} dnat ip to {}:{} comment \"{}\"", mapping.protocol_name(), mapping.host_port,
            address.to_string(), mapping.port, tag);
        commands += fmt::format("add rule {0} prerouting fib daddr type local ip daddr != 127.0.0.0/8 {1}\n"
                                "add rule {0} output fib daddr type local {1}\n",
            nftables_table, forward);
    }
    Nftables nftables;
    nftables.run(commands, fmt::format("publish ports of {}", address.to_string()));
}

void remove_tagged_rules(std::string const& tag)
{
    Nftables nftables;
    if (auto rules = nftables.list_rules())
        remove_rules_where(nftables, *rules, [&](std::string const& comment) { return comment == tag; });
}

std::vector<std::string> instance_rule_tags()
{
    std::vector<std::string> tags;
    Nftables nftables;
    if (auto rules = nftables.list_rules()) {
        for (auto const& rule : *rules) {
            auto comment = comment_of(rule);
            // Instance tags have two colons (vmm:BRIDGE:ADDRESS), a bridge's one.
            if (comment.starts_with("vmm:") && comment.find(':', 4) != std::string::npos)
                tags.push_back(std::move(comment));
        }
    }
    return tags;
}

}

namespace vmm::network {

std::vector<std::string> bridges_with_nat()
{
    std::vector<std::string> bridges;
    Nftables nftables;
    if (auto rules = nftables.list_rules()) {
        for (auto const& rule : *rules) {
            auto comment = comment_of(rule);
            if (comment.starts_with("vmm:") && comment.find(':', 4) == std::string::npos
                && std::find(bridges.begin(), bridges.end(), comment.substr(4)) == bridges.end())
                bridges.push_back(comment.substr(4));
        }
    }
    return bridges;
}

}
