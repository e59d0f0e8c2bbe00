#include "network/ResolverConfiguration.h"

#include <fstream>
#include <sstream>

namespace vmm::network {

namespace {

// The address of each "nameserver ADDRESS" line of the file at `path`.
std::vector<std::string> name_server_lines(std::string const& path)
{
    std::vector<std::string> addresses;
    std::ifstream file(path);
    for (std::string line; std::getline(file, line);) {
        std::istringstream words(line);
        std::string keyword;
        std::string address;
        words >> keyword >> address;
        if (keyword == "nameserver" && !address.empty())
            addresses.push_back(address);
    }
    return addresses;
}

}

std::string usable_resolver_configuration(std::span<std::string const> candidates)
{
    for (auto const& path : candidates) {
        bool reachable = false;
        bool loopback = false;
        for (auto const& address : name_server_lines(path)) {
            if (address.starts_with("127.") || address == "::1")
                loopback = true;
            else
                reachable = true;
        }
        if (reachable && !loopback)
            return path;
    }
    return {};
}

std::string host_resolver_configuration()
{
    std::string const candidates[] = { "/etc/resolv.conf", "/run/systemd/resolve/resolv.conf" };
    return usable_resolver_configuration(candidates);
}

std::vector<Ipv4Address> ipv4_name_servers(std::string const& path, size_t limit)
{
    std::vector<Ipv4Address> servers;
    for (auto const& address : name_server_lines(path)) {
        if (servers.size() == limit)
            break;
        if (auto server = Ipv4Address::try_parse(address))
            servers.push_back(*server);
    }
    return servers;
}

}
