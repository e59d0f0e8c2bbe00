// virtio-net on a real TAP (IFF_VNET_HDR, offloads), with the made-up
// driver on the guest side and the host kernel's UDP on the other, all in a
// network namespace of the test's own: no traffic leaves it. Needs root and
// /dev/net/tun.
#include "vmm/devices/virtio/MmioTransport.h"
#include "vmm/devices/virtio/NetDevice.h"
#include "vmm/devices/virtio/TapDevice.h"
#include "tests/virtio/NetTestSupport.h"
#include "tests/virtio/QueueDriver.h"

#include <arpa/inet.h>
#include <functional>
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <thread>

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::testing;

namespace {

constexpr char const* host_address = "10.200.0.1";
constexpr char const* guest_address = "10.200.0.2";
constexpr MacAddress guest_mac { 0x02, 0x76, 0x6d, 0xc8, 0x00, 0x02 };
constexpr uint16_t guest_port = 4000;
constexpr uint16_t host_port = 5000;
constexpr GuestAddress receive_buffers = 0x100000;
constexpr GuestAddress transmit_buffers = 0x200000;
constexpr uint64_t features = feature::version_1 | feature::ring_event_index | NetDevice::Checksum | NetDevice::GuestChecksum | NetDevice::Mac
    | NetDevice::MergeableReceiveBuffers;

// Runs `body` on a thread of its own in a new network namespace; returns why it could not.
std::string in_new_network_namespace(std::function<void()> const& body)
{
    std::string problem;
    std::thread thread([&] {
        if (::unshare(CLONE_NEWNET) != 0) {
            problem = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno) + " (needs root)";
            return;
        }
        body();
    });
    thread.join();
    return problem;
}

uint16_t internet_checksum(std::span<uint8_t const> bytes, uint32_t sum = 0)
{
    for (size_t index = 0; index + 1 < bytes.size(); index += 2)
        sum += static_cast<uint32_t>(bytes[index] << 8 | bytes[index + 1]);
    if (bytes.size() % 2)
        sum += static_cast<uint32_t>(bytes.back() << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

void put_be16(std::vector<uint8_t>& bytes, size_t offset, uint16_t value)
{
    bytes[offset] = static_cast<uint8_t>(value >> 8);
    bytes[offset + 1] = static_cast<uint8_t>(value);
}

// Ethernet, IPv4 and UDP from the guest to the host, around `payload`. With
// `partial`, the UDP checksum holds only the pseudo-header's sum, for the
// host to finish (VIRTIO_NET_HDR_F_NEEDS_CSUM).
std::vector<uint8_t> udp_frame(MacAddress destination, std::string const& payload, bool partial)
{
    std::vector<uint8_t> frame(14 + 20 + 8 + payload.size(), 0);
    std::copy(destination.begin(), destination.end(), frame.begin());
    std::copy(guest_mac.begin(), guest_mac.end(), frame.begin() + 6);
    put_be16(frame, 12, 0x0800);
    in_addr source {}, target {};
    inet_pton(AF_INET, guest_address, &source);
    inet_pton(AF_INET, host_address, &target);
    frame[14] = 0x45;
    put_be16(frame, 16, static_cast<uint16_t>(20 + 8 + payload.size()));
    frame[22] = 64;
    frame[23] = IPPROTO_UDP;
    std::memcpy(&frame[26], &source, 4);
    std::memcpy(&frame[30], &target, 4);
    put_be16(frame, 24, internet_checksum({ frame.data() + 14, 20 }));
    put_be16(frame, 34, guest_port);
    put_be16(frame, 36, host_port);
    put_be16(frame, 38, static_cast<uint16_t>(8 + payload.size()));
    std::copy(payload.begin(), payload.end(), frame.begin() + 42);
    // The pseudo-header: addresses, protocol, UDP length.
    uint32_t pseudo = IPPROTO_UDP + 8 + static_cast<uint32_t>(payload.size());
    for (size_t offset = 26; offset < 34; offset += 2)
        pseudo += static_cast<uint32_t>(frame[offset] << 8 | frame[offset + 1]);
    if (partial) {
        while (pseudo >> 16)
            pseudo = (pseudo & 0xffff) + (pseudo >> 16);
        put_be16(frame, 40, static_cast<uint16_t>(pseudo));
    } else {
        put_be16(frame, 40, internet_checksum({ frame.data() + 34, 8 + payload.size() }, pseudo));
    }
    return frame;
}

int interface_socket()
{
    return ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

// Gives the TAP the host's address, brings it up, and makes the guest's
// address resolve to its MAC without ARP. Returns the TAP's MAC.
MacAddress configure_host_side(std::string const& name)
{
    FileDescriptor sock(interface_socket());
    ifreq request {};
    std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
    auto* address = reinterpret_cast<sockaddr_in*>(&request.ifr_addr);
    address->sin_family = AF_INET;
    inet_pton(AF_INET, host_address, &address->sin_addr);
    EXPECT_EQ(::ioctl(sock.get(), SIOCSIFADDR, &request), 0) << std::strerror(errno);
    inet_pton(AF_INET, "255.255.255.0", &address->sin_addr);
    EXPECT_EQ(::ioctl(sock.get(), SIOCSIFNETMASK, &request), 0) << std::strerror(errno);
    EXPECT_EQ(::ioctl(sock.get(), SIOCGIFFLAGS, &request), 0);
    request.ifr_flags |= IFF_UP;
    EXPECT_EQ(::ioctl(sock.get(), SIOCSIFFLAGS, &request), 0) << std::strerror(errno);
    EXPECT_EQ(::ioctl(sock.get(), SIOCGIFHWADDR, &request), 0);
    MacAddress mac {};
    std::memcpy(mac.data(), request.ifr_hwaddr.sa_data, mac.size());

    arpreq neighbour {};
    auto* protocol_address = reinterpret_cast<sockaddr_in*>(&neighbour.arp_pa);
    protocol_address->sin_family = AF_INET;
    inet_pton(AF_INET, guest_address, &protocol_address->sin_addr);
    neighbour.arp_ha.sa_family = ARPHRD_ETHER;
    std::memcpy(neighbour.arp_ha.sa_data, guest_mac.data(), guest_mac.size());
    neighbour.arp_flags = ATF_COM | ATF_PERM;
    std::strncpy(neighbour.arp_dev, name.c_str(), sizeof(neighbour.arp_dev) - 1);
    EXPECT_EQ(::ioctl(sock.get(), SIOCSARP, &neighbour), 0) << std::strerror(errno);
    return mac;
}

FileDescriptor udp_socket(char const* address, uint16_t port)
{
    FileDescriptor sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in local {};
    local.sin_family = AF_INET;
    local.sin_port = htons(port);
    inet_pton(AF_INET, address, &local.sin_addr);
    EXPECT_EQ(::bind(sock.get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)), 0) << std::strerror(errno);
    return sock;
}

bool wait_readable(int fd, int milliseconds)
{
    pollfd entry { fd, POLLIN, 0 };
    return ::poll(&entry, 1, milliseconds) == 1;
}

void skip_unless_tun_is_usable()
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root (a TAP and a network namespace)";
    if (::access("/dev/net/tun", R_OK | W_OK) != 0)
        GTEST_SKIP() << "needs /dev/net/tun";
}

// The device on a TAP with the made-up driver on the guest side; in the namespace of the thread that makes it.
struct TapMachine {
    TapMachine()
        : tap(TapDevice::create("vmmtest%d"))
    {
        device = std::make_shared<NetDevice>(tap, guest_mac, 1500);
        transport = std::make_unique<MmioTransport>(memory, device, std::make_unique<CountingInterrupt>(interrupts));
        QueueDriver const* queues[] = { &receive, &transmit };
        EXPECT_EQ(initialise(*transport, features, queues) & status::device_needs_reset, 0u);
    }

    void send(std::vector<uint8_t> const& header, std::vector<uint8_t> const& frame)
    {
        uint16_t const index = transmit.next_available() % 16;
        GuestAddress const address = transmit_buffers + index * 0x1000;
        memory.write_bytes(address, header);
        memory.write_bytes(address + header.size(), frame);
        transmit.set_descriptor(index, address, static_cast<uint32_t>(header.size() + frame.size()));
        transmit.make_available(index);
        transport->process_queues();
    }

    GuestMemory memory { GuestMemory::create_flat(4 << 20) };
    QueueDriver receive { memory, 0x1000, 16 };
    QueueDriver transmit { memory, 0x8000, 16 };
    std::shared_ptr<std::atomic<int>> interrupts { std::make_shared<std::atomic<int>>(0) };
    std::shared_ptr<TapDevice> tap;
    std::shared_ptr<NetDevice> device;
    std::unique_ptr<MmioTransport> transport;
};

}

TEST(NetTap, GuestFramesReachTheHostAndTheHostsReachTheGuest)
{
    skip_unless_tun_is_usable();
    auto const problem = in_new_network_namespace([] {
        TapMachine machine;
        EXPECT_EQ(machine.tap->name().rfind("vmmtest", 0), 0u) << machine.tap->name();
        auto const tap_mac = configure_host_side(machine.tap->name());
        auto host = udp_socket(host_address, host_port);

        // Guest to host, once with a full checksum and once with a partial one the host completes.
        machine.send(virtio_header(0, NetDevice::GsoNone), udp_frame(tap_mac, "full checksum", false));
        auto header = virtio_header(NetDevice::header_needs_checksum, NetDevice::GsoNone);
        header[6] = 34; // csum_start: the UDP header, after Ethernet and IPv4.
        header[8] = 6;  // csum_offset: its checksum field.
        machine.send(header, udp_frame(tap_mac, "partial checksum", true));
        EXPECT_EQ(machine.device->counters().transmitted, 2u);
        for (std::string expected : { "full checksum", "partial checksum" }) {
            ASSERT_TRUE(wait_readable(host.get(), 2000)) << "the host got no datagram for '" << expected << "'";
            char buffer[128] {};
            ssize_t const length = ::recv(host.get(), buffer, sizeof(buffer), 0);
            EXPECT_EQ(std::string(buffer, length > 0 ? size_t(length) : 0), expected);
        }

        // Host to guest: the datagram arrives as a frame in the guest's receive buffer.
        for (uint16_t index = 0; index < 4; ++index) {
            machine.receive.set_descriptor(index, receive_buffers + index * 0x1000, 2048, descriptor_flag::write);
            machine.receive.make_available(index);
        }
        sockaddr_in guest {};
        guest.sin_family = AF_INET;
        guest.sin_port = htons(guest_port);
        inet_pton(AF_INET, guest_address, &guest.sin_addr);
        std::string const payload = "from the host";
        ASSERT_EQ(::sendto(host.get(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&guest), sizeof(guest)),
            static_cast<ssize_t>(payload.size()))
            << std::strerror(errno);
        ASSERT_TRUE(wait_readable(machine.tap->fd(), 2000)) << "nothing came out of the TAP";
        machine.device->note_backend_readable();
        machine.transport->process_queues();
        ASSERT_GE(machine.receive.used_index(), 1);
        // The host may send other frames (IPv6 router solicitations); find ours.
        bool found = false;
        for (uint16_t position = 0; position < machine.receive.used_index(); ++position) {
            auto const element = machine.receive.used_element(position);
            std::vector<uint8_t> bytes(element.length);
            machine.memory.read_bytes(receive_buffers + element.id * 0x1000, bytes);
            std::string const text(bytes.begin(), bytes.end());
            if (text.find(payload) == std::string::npos)
                continue;
            found = true;
            EXPECT_EQ(bytes.size(), NetDevice::header_size + 14 + 20 + 8 + payload.size());
            EXPECT_TRUE(std::equal(guest_mac.begin(), guest_mac.end(), bytes.begin() + NetDevice::header_size)) << "to the guest's MAC";
            EXPECT_EQ(bytes[10] | bytes[11] << 8, 1) << "num_buffers";
        }
        EXPECT_TRUE(found) << "the host's datagram was not among the " << machine.receive.used_index() << " frames received";
    });
    if (!problem.empty())
        GTEST_SKIP() << problem;
}

TEST(NetTap, OffloadsAndMtuReachTheTap)
{
    skip_unless_tun_is_usable();
    auto const problem = in_new_network_namespace([] {
        auto tap = TapDevice::create("vmmtest%d");
        EXPECT_FALSE(tap->set_offloads(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6).has_value());
        tap->set_mtu(1400);
        FileDescriptor sock(interface_socket());
        ifreq request {};
        std::strncpy(request.ifr_name, tap->name().c_str(), IFNAMSIZ - 1);
        ASSERT_EQ(::ioctl(sock.get(), SIOCGIFMTU, &request), 0);
        EXPECT_EQ(request.ifr_mtu, 1400);
        // TSO without checksum offload is refused by the TAP itself.
        EXPECT_TRUE(tap->set_offloads(TUN_F_TSO4).has_value());
        std::string const name = tap->name();
        tap.reset();
        EXPECT_NE(::ioctl(sock.get(), SIOCGIFMTU, &request), 0) << "the TAP outlived its file descriptor";
    });
    if (!problem.empty())
        GTEST_SKIP() << problem;
}
