#include "cli/BootNetwork.h"

#include "common/Error.h"
#include "network/Bridge.h"
#include "network/ResolverConfiguration.h"
#include "vmm/devices/virtio/TapDevice.h"
#include "vmm/devices/virtio/VhostNet.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <optional>
#include <sys/syscall.h>
#include <unistd.h>

namespace vmm::cli {

namespace {

// What the keeper tells the VMM: the lease, or why there is none. Plain
// data through a pipe (less than PIPE_BUF, so one write).
struct KeeperReport {
    char error[512];
    uint32_t address;
    uint32_t prefix_length;
    uint32_t gateway;
    uint8_t mac[6];
    uint32_t mtu;
    char bridge_name[IFNAMSIZ];
    int32_t bridge_index;
    uint32_t subnet_network;
    uint32_t subnet_prefix_length;
    char host_interface[IFNAMSIZ];
};
static_assert(sizeof(KeeperReport) < PIPE_BUF);

template<size_t size>
void copy_text(char (&target)[size], std::string_view text)
{
    size_t const length = std::min(text.size(), size - 1);
    std::memcpy(target, text.data(), length);
    target[length] = '\0';
}

// Closes every descriptor from 3 on except `keep_first` and `keep_second`.
void close_all_but(int keep_first, int keep_second)
{
    unsigned const low = static_cast<unsigned>(std::min(keep_first, keep_second));
    unsigned const high = static_cast<unsigned>(std::max(keep_first, keep_second));
    auto close_range = [](unsigned first, unsigned last) {
        if (first <= last)
            ::syscall(SYS_close_range, first, last, 0u);
    };
    close_range(3, low - 1);
    close_range(low + 1, high - 1);
    close_range(high + 1, ~0u);
}

[[noreturn]] void run_keeper(network::EndpointOptions const& options, int life_fd, int report_fd)
{
    // Only the end of the VMM ends the keeper: a Ctrl-C or a kill of the
    // process group must not leave the VMM's lease and rules behind.
    for (int signal_number : { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE })
        ::signal(signal_number, SIG_IGN);
    close_all_but(life_fd, report_fd);
    int const null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        ::dup2(null, STDIN_FILENO);
        ::dup2(null, STDOUT_FILENO);
        ::close(null);
    }

    KeeperReport report {};
    std::optional<network::Endpoint> endpoint;
    try {
        endpoint.emplace(network::Endpoint::create(options));
        auto const& bridge = endpoint->bridge();
        report.address = endpoint->address().value;
        report.prefix_length = endpoint->prefix_length();
        report.gateway = endpoint->gateway().value;
        std::memcpy(report.mac, endpoint->mac().bytes.data(), sizeof(report.mac));
        report.mtu = endpoint->mtu();
        copy_text(report.bridge_name, bridge.name);
        report.bridge_index = bridge.index;
        report.subnet_network = bridge.subnet.network().value;
        report.subnet_prefix_length = bridge.subnet.prefix_length();
        copy_text(report.host_interface, endpoint->host_interface_name());
    } catch (std::exception const& error) {
        copy_text(report.error, error.what());
    }
    if (!write_all(report_fd, &report, sizeof(report)) || !endpoint)
        ::_exit(1);
    char byte;
    for (;;) {
        ssize_t const got = ::read(life_fd, &byte, 1);
        if (got == 0 || (got < 0 && errno != EINTR))
            break;
    }
    try {
        endpoint.reset();
    } catch (std::exception const& error) {
        std::fprintf(stderr, "vmm: network: %s\n", error.what());
    }
    ::_exit(0);
}

}

BootNetwork BootNetwork::create(network::EndpointOptions const& options)
{
    int life[2];
    int report[2];
    if (::pipe2(life, O_CLOEXEC) != 0)
        throw_system_error("pipe2", "(network keeper)");
    FileDescriptor life_read(life[0]);
    FileDescriptor life_write(life[1]);
    if (::pipe2(report, O_CLOEXEC) != 0)
        throw_system_error("pipe2", "(network keeper)");
    FileDescriptor report_read(report[0]);
    FileDescriptor report_write(report[1]);
    std::fflush(nullptr);
    pid_t const keeper = ::fork();
    if (keeper < 0)
        throw_system_error("fork", "(network keeper)");
    if (keeper == 0)
        run_keeper(options, life_read.get(), report_write.get());
    life_read.reset();
    report_write.reset();
    BootNetwork network(::getpid(), std::move(life_write), std::move(report_read));

    KeeperReport answer {};
    size_t received = 0;
    while (received < sizeof(answer)) {
        ssize_t const got = ::read(network.m_report.get(), reinterpret_cast<char*>(&answer) + received, sizeof(answer) - received);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            throw Error("--net bridge: the network keeper process ended without setting up the network");
        received += static_cast<size_t>(got);
    }
    if (answer.error[0] != '\0')
        throw Error(answer.error);

    network::BridgeInfo const bridge { answer.bridge_name, answer.bridge_index,
        network::Subnet({ answer.subnet_network }, answer.subnet_prefix_length), answer.mtu, std::nullopt };
    std::string const interface_name = answer.host_interface;
    auto& net = network.m_options;
    net.tap = virtio::TapDevice::create(interface_name);
    network::attach_to_bridge(interface_name, bridge);
    net.vhost = std::make_shared<FileDescriptor>(virtio::VhostNet::open_device());
    std::memcpy(net.mac.data(), answer.mac, net.mac.size());
    net.mtu = static_cast<uint16_t>(std::min<uint32_t>(answer.mtu, 65535));
    net.address = network::Ipv4Address { answer.address }.to_string() + "/" + std::to_string(answer.prefix_length);
    net.gateway = network::Ipv4Address { answer.gateway }.to_string();
    // As a bridged container's: the host's name servers, reached through the NAT.
    if (auto const configuration = network::host_resolver_configuration(); !configuration.empty()) {
        for (auto const& server : network::ipv4_name_servers(configuration))
            net.name_servers.push_back(server.to_string());
    }
    return network;
}

BootNetwork::~BootNetwork()
{
    // A jailed VMM (a child with its own PID) leaves the waiting to the parent, which holds the pipe too.
    if (!m_report.is_valid() || ::getpid() != m_creator)
        return;
    // The TAP and vhost go first; the keeper then finds nothing of the VMM's left but its lease and rules.
    m_options = {};
    m_life.reset();
    char buffer[64];
    for (;;) {
        ssize_t const got = ::read(m_report.get(), buffer, sizeof(buffer));
        if (got > 0 || (got < 0 && errno == EINTR))
            continue;
        break;
    }
}

}
