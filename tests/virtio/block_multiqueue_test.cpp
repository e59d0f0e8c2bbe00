// virtio-blk with several queues (VIRTIO_BLK_F_MQ): what the device offers,
// requests on each queue through the transport, and notifications that
// name their queue (the per-queue eventfds KVM's datamatch ioeventfds
// signal, and the slow path's QueueNotify writes).
#include "common/Error.h"
#include "common/EventLoop.h"
#include "vmm/devices/virtio/BlockDevice.h"
#include "vmm/devices/virtio/MmioTransport.h"
#include "tests/support/WaitFor.h"
#include "tests/virtio/QueueDriver.h"

#include <chrono>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::testing;
using namespace std::chrono_literals;
using vmm::testing::wait_for;

namespace {

constexpr uint64_t image_size = 1 << 20;
constexpr uint64_t multiqueue_feature = 1ull << 12;
constexpr uint16_t queue_size = 64;
constexpr uint64_t num_queues_offset = 34; // In struct virtio_blk_config.

uint8_t image_byte(uint64_t offset) { return static_cast<uint8_t>(offset / 512 * 7 + offset); }

FileDescriptor make_image()
{
    FileDescriptor image(memfd_create("virtio-blk-mq-test", MFD_CLOEXEC));
    EXPECT_TRUE(image.is_valid());
    std::vector<uint8_t> bytes(image_size);
    for (size_t offset = 0; offset < bytes.size(); ++offset)
        bytes[offset] = image_byte(offset);
    EXPECT_EQ(pwrite(image.get(), bytes.data(), bytes.size(), 0), static_cast<ssize_t>(image_size));
    return image;
}

enum class Backend {
    Preadv,
    Uring,
};

class BlockMultiqueue : public ::testing::TestWithParam<Backend> {
protected:
    void SetUp() override
    {
        device = std::make_shared<BlockDevice>(make_image(), image_size, BlockAccess::ReadOnly, "mq", "blk mq", 2);
        if (GetParam() == Backend::Uring) {
            for (uint16_t queue = 0; queue < 2; ++queue) {
                auto backend = select_block_backend(device->image_fd(), "blk mq");
                if (!backend)
                    GTEST_SKIP() << "io_uring is unavailable on this host (io_uring_setup failed, or vmm was built without liburing)";
                device->set_backend(queue, std::move(backend));
            }
        }
        transport = std::make_shared<MmioTransport>(memory, device, std::make_unique<CountingInterrupt>(interrupts));
        QueueDriver const* queues[] = { &drivers[0], &drivers[1] };
        ASSERT_EQ(initialise(*transport, feature::version_1 | feature::ring_event_index | multiqueue_feature, queues), 15u);
    }

    // Guest memory of request `slot` on `queue`: header, 4 KiB of data, status.
    static GuestAddress request_memory(uint16_t queue, uint16_t slot) { return 0x100000 + queue * 0x100000ull + slot * 0x2000ull; }

    // Makes a 4 KiB read of `sector` available on `queue` in `slot`; does not notify.
    void submit(uint16_t queue, uint16_t slot, uint64_t sector)
    {
        GuestAddress const header = request_memory(queue, slot);
        memory.write_object(header, BlockDevice::RequestHeader { BlockDevice::In, 0, sector });
        memory.write_object<uint8_t>(header + 0x20, 0xaa);
        auto& driver = drivers[queue];
        uint16_t const first = static_cast<uint16_t>(slot * 3);
        driver.set_descriptor(first, header, 16, descriptor_flag::next, first + 1);
        driver.set_descriptor(first + 1, header + 0x1000, 4096, descriptor_flag::next | descriptor_flag::write, first + 2);
        driver.set_descriptor(first + 2, header + 0x20, 1, descriptor_flag::write);
        driver.make_available(first);
    }

    // Checks the used element at `position` of `queue`: request `slot`, read `sector` whole.
    void expect_completed(uint16_t queue, uint16_t position, uint16_t slot, uint64_t sector)
    {
        auto const element = drivers[queue].used_element(position);
        EXPECT_EQ(element.id, slot * 3u) << "queue " << queue;
        EXPECT_EQ(element.length, 4097u) << "queue " << queue;
        GuestAddress const header = request_memory(queue, slot);
        EXPECT_EQ(memory.read_object<uint8_t>(header + 0x20), BlockDevice::Ok) << "queue " << queue;
        for (uint64_t offset : { 0ull, 511ull, 4095ull })
            EXPECT_EQ(memory.read_object<uint8_t>(header + 0x1000 + offset), image_byte(sector * 512 + offset)) << "queue " << queue;
    }

    // What KVM's ioeventfd with datamatch `queue` does with the driver's QueueNotify write.
    void signal(uint16_t queue)
    {
        uint64_t const one = 1;
        ASSERT_EQ(::write(transport->notify_fd(queue), &one, sizeof(one)), static_cast<ssize_t>(sizeof(one)));
    }

    GuestMemory memory { GuestMemory::create_flat(4 << 20) };
    QueueDriver drivers[2] { { memory, 0x1000, queue_size }, { memory, 0x8000, queue_size } };
    std::shared_ptr<std::atomic<int>> interrupts { std::make_shared<std::atomic<int>>(0) };
    std::shared_ptr<BlockDevice> device;
    std::shared_ptr<MmioTransport> transport;
};

TEST_P(BlockMultiqueue, EachQueuesRequestsLandOnItsOwnUsedRing)
{
    submit(0, 0, 8);
    submit(0, 1, 100);
    submit(1, 0, 16);
    signal(0);
    transport->handle_notify_event(0);
    EXPECT_EQ(drivers[0].used_index(), 2);
    EXPECT_EQ(drivers[1].used_index(), 0) << "queue 0's notification served queue 1";
    expect_completed(0, 0, 0, 8);
    expect_completed(0, 1, 1, 100);
    signal(1);
    transport->handle_notify_event(1);
    ASSERT_EQ(drivers[1].used_index(), 1);
    expect_completed(1, 0, 0, 16);
    EXPECT_EQ(drivers[0].used_index(), 2);
    EXPECT_GE(*interrupts, 2);
}

// Each queue driven from its own thread, its pass on that thread (a thread
// per queue, as a device served by several I/O threads would be): no
// request lost, none on the other queue's ring, each with its own data.
TEST_P(BlockMultiqueue, QueuesServedAtTheSameTimeStayApart)
{
    constexpr uint16_t rounds = 2000;
    auto run = [&](uint16_t queue) {
        for (uint16_t round = 0; round < rounds; ++round) {
            uint16_t const slot = round % 8;
            uint64_t const sector = (round * 37ull + queue * 1000) % (image_size / 512 - 8);
            submit(queue, slot, sector);
            transport->handle_notify_event(queue);
            if (drivers[queue].used_index() != static_cast<uint16_t>(round + 1))
                return ::testing::AssertionFailure() << "queue " << queue << ": request " << round << " not served";
            auto const element = drivers[queue].used_element(round);
            GuestAddress const data = request_memory(queue, slot) + 0x1000;
            if (element.id != slot * 3u || memory.read_object<uint8_t>(data + 100) != image_byte(sector * 512 + 100))
                return ::testing::AssertionFailure() << "queue " << queue << ": request " << round << " came back wrong";
        }
        return ::testing::AssertionSuccess();
    };
    ::testing::AssertionResult results[2] { ::testing::AssertionSuccess(), ::testing::AssertionSuccess() };
    std::thread other([&] { results[1] = run(1); });
    results[0] = run(0);
    other.join();
    EXPECT_TRUE(results[0]);
    EXPECT_TRUE(results[1]);
}

// As in vmm: one I/O thread watches every queue's eventfd. A notification
// of queue 1 (KVM's ioeventfd with datamatch 1 signals that eventfd) wakes
// queue 1's pass and leaves queue 0's requests where they are.
TEST_P(BlockMultiqueue, ANotificationOfQueue1WakesOnlyQueue1)
{
    // DRIVER_OK kicked every queue (for what was made available before it): served here, with nothing available.
    transport->handle_notify_event(0);
    transport->handle_notify_event(1);
    EventLoop loop;
    for (uint16_t queue = 0; queue < 2; ++queue)
        loop.add(transport->notify_fd(queue), [this, queue](uint32_t) { transport->handle_notify_event(queue); });
    std::thread io_thread([&] { loop.run(); });
    submit(0, 0, 24);
    submit(1, 0, 32);
    signal(1);
    EXPECT_TRUE(wait_for([&] { return drivers[1].used_index() == 1; }, 5000ms)) << "queue 1's notification did not serve it";
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(drivers[0].used_index(), 0) << "queue 1's notification served queue 0";
    // The slow path (no ioeventfd): the vCPU thread's QueueNotify write of 1.
    submit(1, 1, 40);
    write_register(*transport, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
    EXPECT_TRUE(wait_for([&] { return drivers[1].used_index() == 2; }, 5000ms)) << "QueueNotify=1 did not serve queue 1";
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(drivers[0].used_index(), 0) << "QueueNotify=1 served queue 0";
    // A value no queue has is ignored; queue 0's own notification serves it.
    write_register(*transport, VIRTIO_MMIO_QUEUE_NOTIFY, 2);
    signal(0);
    EXPECT_TRUE(wait_for([&] { return drivers[0].used_index() == 1; }, 5000ms));
    loop.stop();
    io_thread.join();
    expect_completed(0, 0, 0, 24);
    expect_completed(1, 0, 0, 32);
    expect_completed(1, 1, 1, 40);
}

INSTANTIATE_TEST_SUITE_P(Backends, BlockMultiqueue, ::testing::Values(Backend::Preadv, Backend::Uring),
    [](auto const& info) { return info.param == Backend::Uring ? "IoUring" : "Preadv"; });

uint32_t read_features(Device& transport, uint32_t word)
{
    write_register(transport, VIRTIO_MMIO_DEVICE_FEATURES_SEL, word);
    return read_register(transport, VIRTIO_MMIO_DEVICE_FEATURES);
}

uint16_t read_num_queues(Device& transport)
{
    uint16_t value = 0;
    transport.read(VIRTIO_MMIO_CONFIG + num_queues_offset, { reinterpret_cast<uint8_t*>(&value), sizeof(value) });
    return value;
}

TEST(BlockQueues, MultiqueueIsOfferedWithMoreThanOneQueue)
{
    auto memory = GuestMemory::create_flat(1 << 20);
    auto interrupts = std::make_shared<std::atomic<int>>(0);
    for (uint16_t count : { 1, 2, 8 }) {
        auto device = std::make_shared<BlockDevice>(make_image(), image_size, BlockAccess::ReadOnly, "mq", "blk mq", count);
        MmioTransport transport(memory, device, std::make_unique<CountingInterrupt>(interrupts));
        EXPECT_EQ((read_features(transport, 0) & multiqueue_feature) != 0, count > 1) << count << " queues";
        EXPECT_EQ(read_num_queues(transport), count);
        EXPECT_EQ(transport.queue_count(), count);
        // QueueNumMax says which queues exist.
        write_register(transport, VIRTIO_MMIO_QUEUE_SEL, count - 1u);
        EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_NUM_MAX), 256u);
        write_register(transport, VIRTIO_MMIO_QUEUE_SEL, count);
        EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_NUM_MAX), 0u);
    }
}

TEST(BlockQueues, QueueCountOutOfRangeIsRefused)
{
    for (uint16_t count : { 0, 9 }) {
        try {
            BlockDevice device(make_image(), image_size, BlockAccess::ReadOnly, "mq", "blk mq", count);
            ADD_FAILURE() << count << " queues accepted";
        } catch (Error const& error) {
            EXPECT_NE(std::string(error.what()).find("1 to 8"), std::string::npos) << error.what();
        }
    }
}

// A driver that does not negotiate VIRTIO_BLK_F_MQ uses queue 0 alone; the device serves it.
TEST(BlockQueues, ADriverWithoutMultiqueueUsesQueue0)
{
    auto memory = GuestMemory::create_flat(4 << 20);
    auto interrupts = std::make_shared<std::atomic<int>>(0);
    auto device = std::make_shared<BlockDevice>(make_image(), image_size, BlockAccess::ReadOnly, "mq", "blk mq", 4);
    MmioTransport transport(memory, device, std::make_unique<CountingInterrupt>(interrupts));
    QueueDriver driver(memory, 0x1000, queue_size);
    QueueDriver const* queues[] = { &driver };
    ASSERT_EQ(initialise(transport, feature::version_1, queues), 15u);
    memory.write_object(GuestAddress(0x100000), BlockDevice::RequestHeader { BlockDevice::In, 0, 3 });
    driver.set_descriptor(0, 0x100000, 16, descriptor_flag::next, 1);
    driver.set_descriptor(1, 0x101000, 512, descriptor_flag::next | descriptor_flag::write, 2);
    driver.set_descriptor(2, 0x100020, 1, descriptor_flag::write);
    driver.make_available(0);
    transport.handle_notify_event(0);
    ASSERT_EQ(driver.used_index(), 1);
    EXPECT_EQ(memory.read_object<uint8_t>(0x100020), BlockDevice::Ok);
    EXPECT_EQ(memory.read_object<uint8_t>(0x101000 + 9), image_byte(3 * 512 + 9));
    EXPECT_EQ(*interrupts, 1);
}

}
