#include "network/Endpoint.h"

#include "common/Error.h"
#include "network/Conntrack.h"
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

Endpoint::Endpoint(BridgeInfo bridge, Lease lease, std::vector<PortMapping> ports, std::vector<FileDescriptor> port_sockets)
    : m_bridge(std::move(bridge))
    , m_lease(std::move(lease))
    , m_ports(std::move(ports))
    , m_port_sockets(std::move(port_sockets))
{
}

Endpoint::Endpoint(Endpoint&& other) noexcept
    : m_bridge(std::move(other.m_bridge))
    , m_lease(std::move(other.m_lease))
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
    // From here on what the instance makes on the host exists only while
    // its lease file does, so that a vmm killed at any point leaves a file
    // whose sweep (by any later run) takes it all.
    auto lease = Lease::acquire(bridge, options.kind, options.address, options.mac, options.published_ports);
    auto ports = options.published_ports;
    try {
        enable_bridge_nat(bridge);
        auto sockets = reserve_host_ports(ports);
        publish_ports(lease.rule_tag(), lease.address(), ports);
        return Endpoint(std::move(bridge), std::move(lease), std::move(ports), std::move(sockets));
    } catch (...) {
        release_host_side(bridge.name, lease);
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
    delete_instance_interface(m_lease->host_interface_name());
    m_port_sockets.clear();
    release_host_side(m_bridge.name, *m_lease);
}

void Endpoint::release_host_side(std::string const& bridge, Lease& lease)
{
    remove_tagged_rules(lease.rule_tag());
    forget_connections_of(lease.address());
    auto others = live_leases(bridge);
    std::erase(others, lease.address());
    if (others.empty())
        release_bridge(bridge);
    lease.release();
}

}
