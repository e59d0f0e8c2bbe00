#include "network/Endpoint.h"

#include "common/Error.h"
#include "network/PublishedPorts.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace vmm::network {

namespace {

void check_distinct_host_ports(std::vector<PortMapping> const& ports)
{
    for (size_t index = 0; index < ports.size(); ++index) {
        for (size_t other = 0; other < index; ++other) {
            if (ports[index].host_port == ports[other].host_port && ports[index].protocol == ports[other].protocol)
                throw Error(fmt::format("-p {} and -p {} publish the same host port", ports[other].to_string(), ports[index].to_string()));
        }
    }
}

}

Endpoint::Endpoint(BridgeInfo bridge, Lease lease, MacAddress mac, std::vector<PortMapping> ports, std::vector<FileDescriptor> port_sockets)
    : m_bridge(std::move(bridge))
    , m_lease(std::move(lease))
    , m_mac(mac)
    , m_ports(std::move(ports))
    , m_port_sockets(std::move(port_sockets))
{
}

Endpoint::Endpoint(Endpoint&& other) noexcept
    : m_bridge(std::move(other.m_bridge))
    , m_lease(std::move(other.m_lease))
    , m_mac(other.m_mac)
    , m_ports(std::move(other.m_ports))
    , m_port_sockets(std::move(other.m_port_sockets))
{
    other.m_lease.reset();
}

Endpoint Endpoint::create(EndpointOptions const& options)
{
    check_network_administration("--net bridge");
    check_distinct_host_ports(options.published_ports);
    NetworkLock lock;
    sweep_stale_leases();
    auto bridge = ensure_bridge(options.bridge, options.subnet);
    auto const release_bridge_if_unused = [&] {
        if (live_leases(bridge.name).empty())
            release_bridge(bridge.name);
    };
    std::optional<Lease> lease;
    try {
        lease.emplace(Lease::acquire(bridge, options.kind, options.address, options.published_ports));
    } catch (...) {
        release_bridge_if_unused();
        throw;
    }
    try {
        auto sockets = reserve_host_ports(options.published_ports);
        publish_ports(lease->rule_tag(), lease->address(), options.published_ports);
        auto const mac = options.mac.value_or(MacAddress::for_address(lease->address()));
        return Endpoint(std::move(bridge), std::move(*lease), mac, options.published_ports, std::move(sockets));
    } catch (...) {
        remove_tagged_rules(lease->rule_tag());
        lease->release();
        release_bridge_if_unused();
        throw;
    }
}

Endpoint::~Endpoint()
{
    if (!m_lease)
        return; // Moved from.
    try {
        tear_down();
    } catch (std::exception const& error) {
        spdlog::warn("network clean-up of {}: {}", m_lease->address().to_string(), error.what());
    }
}

void Endpoint::tear_down()
{
    NetworkLock lock;
    delete_interface(m_lease->host_interface_name());
    remove_tagged_rules(m_lease->rule_tag());
    m_lease->release();
    m_port_sockets.clear();
    if (live_leases(m_bridge.name).empty())
        release_bridge(m_bridge.name);
}

}
