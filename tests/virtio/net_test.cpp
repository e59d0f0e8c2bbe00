// virtio-net through its MMIO transport, driven by a made-up driver on plain
// memory, with a socket pair standing in for the TAP: each datagram is one
// frame behind its 12-byte virtio header, as a TAP with IFF_VNET_HDR reads
// and writes them.
#include "vmm/devices/virtio/MmioTransport.h"
#include "vmm/devices/virtio/NetDevice.h"
#include "tests/virtio/NetTestSupport.h"
#include "tests/virtio/QueueDriver.h"

#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <sys/socket.h>

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::testing;

namespace {

constexpr uint64_t all_features = feature::version_1 | feature::ring_event_index | feature::ring_indirect_descriptors | NetDevice::Checksum
    | NetDevice::GuestChecksum | NetDevice::Mtu | NetDevice::Mac | NetDevice::GuestTso4 | NetDevice::GuestTso6 | NetDevice::HostTso4
    | NetDevice::HostTso6 | NetDevice::MergeableReceiveBuffers | NetDevice::Status;
constexpr MacAddress mac { 0x02, 0x76, 0x6d, 0x0a, 0x58, 0x05 };
constexpr GuestAddress receive_buffers = 0x100000;
constexpr GuestAddress transmit_buffers = 0x200000;

class NetTest : public ::testing::Test {
protected:
    void start(uint64_t features = all_features)
    {
        device = std::make_shared<NetDevice>(backend, mac, 1500);
        transport = std::make_unique<MmioTransport>(memory, device, std::make_unique<CountingInterrupt>(interrupts));
        QueueDriver const* queues[] = { &receive, &transmit };
        ASSERT_EQ(initialise(*transport, features, queues) & status::device_needs_reset, 0u);
    }

    // Posts a receive buffer of `length` bytes at `address` as descriptor `index`.
    void post_receive_buffer(uint16_t index, GuestAddress address, uint32_t length)
    {
        receive.set_descriptor(index, address, length, descriptor_flag::write);
        receive.make_available(index);
    }

    // The bytes the device wrote for used element `position` of the receive queue.
    std::vector<uint8_t> received(uint16_t position, GuestAddress address)
    {
        auto const element = receive.used_element(position);
        std::vector<uint8_t> bytes(element.length);
        memory.read_bytes(address, bytes);
        return bytes;
    }

    GuestMemory memory { GuestMemory::create_flat(4 << 20) };
    QueueDriver receive { memory, 0x1000, 16 };
    QueueDriver transmit { memory, 0x8000, 16 };
    std::shared_ptr<SocketPairBackend> backend { std::make_shared<SocketPairBackend>() };
    std::shared_ptr<std::atomic<int>> interrupts { std::make_shared<std::atomic<int>>(0) };
    std::shared_ptr<NetDevice> device;
    std::unique_ptr<MmioTransport> transport;
};

TEST_F(NetTest, IsANetworkDeviceWithMacMtuAndLinkUp)
{
    start();
    EXPECT_EQ(read_register(*transport, VIRTIO_MMIO_DEVICE_ID), 1u);
    uint8_t configuration[12] {};
    for (size_t offset = 0; offset < sizeof(configuration); ++offset)
        transport->read(VIRTIO_MMIO_CONFIG + offset, { configuration + offset, 1 });
    EXPECT_TRUE(std::equal(mac.begin(), mac.end(), configuration));
    EXPECT_EQ(configuration[6] | configuration[7] << 8, 1) << "VIRTIO_NET_S_LINK_UP";
    EXPECT_EQ(configuration[10] | configuration[11] << 8, 1500);
    EXPECT_EQ(transport->negotiated_features(), all_features) << "every feature offered is accepted";
}

TEST_F(NetTest, OffloadsFollowTheGuestsFeatures)
{
    start();
    EXPECT_EQ(backend->offloads(), TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
    start(feature::version_1 | NetDevice::GuestChecksum);
    EXPECT_EQ(backend->offloads(), TUN_F_CSUM);
    start(feature::version_1);
    EXPECT_EQ(backend->offloads(), 0u);
    // Segmentation without checksum offload is not a valid choice; the TAP gets neither.
    EXPECT_EQ(NetDevice::tun_offloads(NetDevice::GuestTso4 | NetDevice::GuestTso6), 0u);
}

TEST_F(NetTest, TransmitWritesTheHeaderAndFrameAsOneDatagram)
{
    start();
    auto const frame = make_frame(300, 7);
    auto const header = virtio_header(NetDevice::header_needs_checksum, NetDevice::GsoNone);
    // Any layout: the header in one buffer, the frame split over two.
    memory.write_bytes(transmit_buffers, header);
    memory.write_bytes(transmit_buffers + 0x1000, std::span(frame).first(100));
    memory.write_bytes(transmit_buffers + 0x2000, std::span(frame).subspan(100));
    transmit.set_descriptor(0, transmit_buffers, header.size(), descriptor_flag::next, 1);
    transmit.set_descriptor(1, transmit_buffers + 0x1000, 100, descriptor_flag::next, 2);
    transmit.set_descriptor(2, transmit_buffers + 0x2000, 200);
    transmit.make_available(0);
    transport->process_queues();

    ASSERT_EQ(transmit.used_index(), 1);
    EXPECT_EQ(transmit.used_element(0).length, 0u);
    auto const sent = backend->receive_from_device();
    ASSERT_EQ(sent.size(), header.size() + frame.size());
    EXPECT_TRUE(std::equal(header.begin(), header.end(), sent.begin()));
    EXPECT_TRUE(std::equal(frame.begin(), frame.end(), sent.begin() + header.size()));
    EXPECT_EQ(device->counters().transmitted, 1u);
    EXPECT_GE(interrupts->load(), 1);
}

TEST_F(NetTest, TransmitRefusesOffloadsThatWereNotNegotiated)
{
    start(feature::version_1 | NetDevice::Mac);
    auto send = [&](uint8_t flags, uint8_t gso_type) {
        auto bytes = virtio_header(flags, gso_type);
        auto const frame = make_frame(100, 1);
        bytes.insert(bytes.end(), frame.begin(), frame.end());
        uint16_t const index = transmit.next_available() % 16;
        memory.write_bytes(transmit_buffers + index * 0x1000, bytes);
        transmit.set_descriptor(index, transmit_buffers + index * 0x1000, static_cast<uint32_t>(bytes.size()));
        transmit.make_available(index);
        transport->process_queues();
    };
    send(0, NetDevice::GsoTcp4);
    send(NetDevice::header_needs_checksum, NetDevice::GsoNone);
    send(0, NetDevice::GsoUdp);
    EXPECT_EQ(transmit.used_index(), 3) << "refused frames still return their buffers";
    EXPECT_EQ(device->counters().dropped, 3u);
    EXPECT_FALSE(backend->has_frame_from_device());
    send(0, NetDevice::GsoNone);
    EXPECT_TRUE(backend->has_frame_from_device());
}

TEST_F(NetTest, TransmitDropsChainsWithoutAFrame)
{
    start();
    transmit.set_descriptor(0, transmit_buffers, NetDevice::header_size); // A header alone.
    transmit.make_available(0);
    transmit.set_descriptor(1, 0x7fffff00, 64); // Outside guest memory.
    transmit.make_available(1);
    transmit.set_descriptor(2, transmit_buffers, 64, descriptor_flag::write); // Device-writable only.
    transmit.make_available(2);
    transport->process_queues();
    EXPECT_EQ(transmit.used_index(), 3);
    EXPECT_EQ(device->counters().dropped, 3u);
    EXPECT_FALSE(backend->has_frame_from_device());
    EXPECT_EQ(read_register(*transport, VIRTIO_MMIO_STATUS) & status::device_needs_reset, 0u);
}

TEST_F(NetTest, ReceiveFillsOneBufferAndSetsNumBuffers)
{
    start();
    post_receive_buffer(0, receive_buffers, 2048);
    auto const frame = make_frame(1000, 3);
    auto header = virtio_header(NetDevice::header_data_valid, NetDevice::GsoNone);
    header[10] = 0xff; // The TAP leaves num_buffers as it was.
    header[11] = 0xff;
    backend->send_to_device(header, frame);
    device->note_backend_readable();
    transport->process_queues();

    ASSERT_EQ(receive.used_index(), 1);
    auto const bytes = received(0, receive_buffers);
    ASSERT_EQ(bytes.size(), NetDevice::header_size + frame.size());
    EXPECT_EQ(bytes[0], NetDevice::header_data_valid);
    EXPECT_EQ(bytes[10] | bytes[11] << 8, 1) << "num_buffers";
    EXPECT_TRUE(std::equal(frame.begin(), frame.end(), bytes.begin() + NetDevice::header_size));
    EXPECT_EQ(device->counters().received, 1u);
}

TEST_F(NetTest, MergeableBuffersCarryALargeFrame)
{
    start();
    for (uint16_t index = 0; index < 4; ++index)
        post_receive_buffer(index, receive_buffers + index * 0x1000, 1024);
    auto const frame = make_frame(3000, 9);
    backend->send_to_device(virtio_header(0, NetDevice::GsoNone), frame);
    device->note_backend_readable();
    transport->process_queues();

    ASSERT_EQ(receive.used_index(), 3) << "three of the four buffers";
    std::vector<uint8_t> joined;
    uint32_t const expected_lengths[] = { 1024, 1024, 3012 - 2048 };
    for (uint16_t position = 0; position < 3; ++position) {
        EXPECT_EQ(receive.used_element(position).id, position);
        EXPECT_EQ(receive.used_element(position).length, expected_lengths[position]);
        auto const part = received(position, receive_buffers + position * 0x1000);
        joined.insert(joined.end(), part.begin(), part.end());
    }
    EXPECT_EQ(joined[10] | joined[11] << 8, 3) << "num_buffers";
    EXPECT_TRUE(std::equal(frame.begin(), frame.end(), joined.begin() + NetDevice::header_size));
}

TEST_F(NetTest, AFrameWaitsForBuffersAndAsksToBeNotified)
{
    start();
    post_receive_buffer(0, receive_buffers, 512); // Too small for the frame with mergeable buffers.
    auto const frame = make_frame(1000, 5);
    backend->send_to_device(virtio_header(0, NetDevice::GsoNone), frame);
    device->note_backend_readable();
    transport->process_queues();
    EXPECT_EQ(receive.used_index(), 0) << "the one buffer is given back for later";
    EXPECT_EQ(receive.available_event(), 1) << "the driver is asked to notify when it adds the next buffer";

    post_receive_buffer(1, receive_buffers + 0x1000, 512);
    post_receive_buffer(2, receive_buffers + 0x2000, 512);
    transport->process_queues(); // What the notification does.
    ASSERT_EQ(receive.used_index(), 2);
    EXPECT_EQ(receive.used_element(0).id, 0u);
    EXPECT_EQ(receive.used_element(1).id, 1u);
    EXPECT_EQ(receive.used_element(1).length, 1012u - 512u);
    EXPECT_EQ(device->counters().received, 1u);
}

TEST_F(NetTest, WithoutMergeableBuffersAFrameTooLargeIsDroppedAndTheBufferKept)
{
    start(feature::version_1 | NetDevice::Mac);
    post_receive_buffer(0, receive_buffers, 200);
    backend->send_to_device(virtio_header(0, NetDevice::GsoNone), make_frame(1000, 1));
    auto const small = make_frame(100, 2);
    backend->send_to_device(virtio_header(NetDevice::header_data_valid, NetDevice::GsoNone), small);
    device->note_backend_readable();
    transport->process_queues();

    ASSERT_EQ(receive.used_index(), 1);
    auto const bytes = received(0, receive_buffers);
    ASSERT_EQ(bytes.size(), NetDevice::header_size + small.size());
    EXPECT_EQ(bytes[0], 0) << "no DATA_VALID without VIRTIO_NET_F_GUEST_CSUM";
    EXPECT_EQ(bytes[10] | bytes[11] << 8, 1) << "num_buffers is 1 without mergeable buffers";
    EXPECT_TRUE(std::equal(small.begin(), small.end(), bytes.begin() + NetDevice::header_size));
    EXPECT_EQ(device->counters().dropped, 1u);
}

TEST_F(NetTest, MalformedReceiveBuffersAreReturnedEmpty)
{
    start();
    receive.set_descriptor(0, 0x7fffff00, 2048, descriptor_flag::write); // Outside guest memory.
    receive.make_available(0);
    receive.set_descriptor(1, receive_buffers, 2048); // Device-readable.
    receive.make_available(1);
    post_receive_buffer(2, receive_buffers + 0x1000, 2048);
    auto const frame = make_frame(64, 4);
    backend->send_to_device(virtio_header(0, NetDevice::GsoNone), frame);
    device->note_backend_readable();
    transport->process_queues();

    ASSERT_EQ(receive.used_index(), 3);
    EXPECT_EQ(receive.used_element(0).length, 0u);
    EXPECT_EQ(receive.used_element(1).length, 0u);
    EXPECT_EQ(receive.used_element(2).id, 2u);
    EXPECT_EQ(receive.used_element(2).length, NetDevice::header_size + frame.size());
    EXPECT_EQ(read_register(*transport, VIRTIO_MMIO_STATUS) & status::device_needs_reset, 0u);
}

TEST_F(NetTest, FramesFlowInOrderUntilTheBackendIsEmpty)
{
    start();
    for (uint16_t index = 0; index < 8; ++index)
        post_receive_buffer(index, receive_buffers + index * 0x1000, 2048);
    for (uint8_t seed = 0; seed < 5; ++seed)
        backend->send_to_device(virtio_header(0, NetDevice::GsoNone), make_frame(60 + seed, seed));
    device->note_backend_readable();
    transport->process_queues();
    ASSERT_EQ(receive.used_index(), 5);
    for (uint8_t seed = 0; seed < 5; ++seed) {
        auto const bytes = received(seed, receive_buffers + seed * 0x1000);
        auto const frame = make_frame(60 + seed, seed);
        ASSERT_EQ(bytes.size(), NetDevice::header_size + frame.size());
        EXPECT_TRUE(std::equal(frame.begin(), frame.end(), bytes.begin() + NetDevice::header_size)) << int(seed);
    }
    // Nothing more arrives until the backend says so.
    backend->send_to_device(virtio_header(0, NetDevice::GsoNone), make_frame(60, 9));
    transport->process_queues();
    EXPECT_EQ(receive.used_index(), 5);
    device->note_backend_readable();
    transport->process_queues();
    EXPECT_EQ(receive.used_index(), 6);
}

TEST_F(NetTest, ResetDropsTheWaitingFrameAndTheDeviceStartsAgain)
{
    start();
    backend->send_to_device(virtio_header(0, NetDevice::GsoNone), make_frame(100, 1));
    device->note_backend_readable();
    transport->process_queues(); // No buffers: the frame waits.
    write_register(*transport, VIRTIO_MMIO_STATUS, 0);
    EXPECT_EQ(read_register(*transport, VIRTIO_MMIO_STATUS), 0u);

    QueueDriver fresh_receive { memory, 0x20000, 16 };
    QueueDriver fresh_transmit { memory, 0x28000, 16 };
    QueueDriver const* queues[] = { &fresh_receive, &fresh_transmit };
    ASSERT_EQ(initialise(*transport, all_features, queues) & status::device_needs_reset, 0u);
    fresh_receive.set_descriptor(0, receive_buffers, 2048, descriptor_flag::write);
    fresh_receive.make_available(0);
    auto const frame = make_frame(80, 2);
    backend->send_to_device(virtio_header(0, NetDevice::GsoNone), frame);
    device->note_backend_readable();
    transport->process_queues();
    ASSERT_EQ(fresh_receive.used_index(), 1);
    EXPECT_EQ(fresh_receive.used_element(0).length, NetDevice::header_size + frame.size()) << "the frame from before the reset is gone";
}

}
