// Polling of the available ring (vmm boot --blk-poll-us): the transport,
// run by an I/O thread as in vmm, with the made-up driver of QueueDriver.h.
#include "common/EventLoop.h"
#include "vmm/devices/virtio/BlockDevice.h"
#include "vmm/devices/virtio/MmioTransport.h"
#include "tests/support/WaitFor.h"
#include "tests/virtio/QueueDriver.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
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
constexpr GuestAddress requests = 0x100000;

// The driver's rule for notifying (Linux's vring_need_event()).
bool need_event(uint16_t event, uint16_t new_index, uint16_t old_index)
{
    return static_cast<uint16_t>(new_index - event - 1) < static_cast<uint16_t>(new_index - old_index);
}

class BlockPolling : public ::testing::TestWithParam<bool> {
protected:
    void SetUp() override
    {
        // The bounds assume native speed: emulated threads (qemu-user, the
        // aarch64 cross build's tests) miss them often, for x86_64 code too.
        if (std::getenv("VMM_TEST_EMULATOR"))
            GTEST_SKIP() << "timing-bound polling tests do not run under " << std::getenv("VMM_TEST_EMULATOR");
        FileDescriptor image(memfd_create("virtio-blk-poll-test", MFD_CLOEXEC));
        ASSERT_TRUE(image.is_valid());
        ASSERT_EQ(ftruncate(image.get(), image_size), 0);
        auto device = std::make_shared<BlockDevice>(std::move(image), image_size, BlockAccess::ReadOnly, "poll", "blk poll");
        transport = std::make_shared<MmioTransport>(memory, device, std::make_unique<CountingInterrupt>(interrupts));
        QueueDriver const* queues[] = { &driver };
        uint64_t const features = feature::version_1 | (event_index() ? feature::ring_event_index : 0);
        ASSERT_EQ(initialise(*transport, features, queues), 15u);
        loop.add(transport->notify_fd(), [this](uint32_t) { transport->handle_notify_event(); });
        io_thread = std::thread([this] {
            io_thread_id = ::gettid();
            loop.run();
        });
    }

    void TearDown() override
    {
        loop.stop();
        if (io_thread.joinable())
            io_thread.join();
    }

    bool event_index() const { return GetParam(); }

    // Whether the I/O thread sleeps in epoll_wait. A pass ends by turning
    // notifications back on and then looking at the available ring once more
    // (so that a buffer made available in between is not missed): a request
    // submitted before that last look is served without a notification, as
    // it should be. Tests that expect a request to wait for its notification
    // submit it only once the thread sleeps.
    bool io_thread_sleeps() const
    {
        auto const task = "/proc/self/task/" + std::to_string(io_thread_id.load());
        std::string wait_channel;
        std::ifstream(task + "/wchan") >> wait_channel;
        if (wait_channel != "0" && !wait_channel.empty())
            return wait_channel.find("epoll") != std::string::npos;
        // Kernels that hide wait channels: the thread's state alone.
        std::string stat;
        std::getline(std::ifstream(task + "/stat"), stat);
        auto const end_of_name = stat.rfind(')');
        return end_of_name != std::string::npos && stat.compare(end_of_name, 4, ") S ") == 0;
    }

    // Makes a 4 KiB read available in slot `slot`; does not notify.
    void submit(uint16_t slot)
    {
        GuestAddress const header = requests + slot * 0x2000ull;
        memory.write_object(header, BlockDevice::RequestHeader { BlockDevice::In, 0, slot * 8ull });
        driver.set_descriptor(slot * 3, header, 16, descriptor_flag::next, slot * 3 + 1);
        driver.set_descriptor(slot * 3 + 1, header + 0x1000, 4096, descriptor_flag::next | descriptor_flag::write, slot * 3 + 2);
        driver.set_descriptor(slot * 3 + 2, header + 0x20, 1, descriptor_flag::write);
        driver.make_available(slot * 3);
    }

    // What KVM's ioeventfd does with the driver's QueueNotify write.
    void notify()
    {
        uint64_t const one = 1;
        ASSERT_EQ(::write(transport->notify_fd(), &one, sizeof(one)), static_cast<ssize_t>(sizeof(one)));
    }

    // Makes the request of `slot` available once the I/O thread sleeps, checks
    // that nothing serves it for 50 ms (`why` says what would be wrong), then
    // notifies and checks that it is served: it is the `slot + 1`th request.
    void expect_request_waits_for_its_notification(uint16_t slot, char const* why)
    {
        ASSERT_TRUE(wait_for([&] { return io_thread_sleeps(); }, 5000ms));
        submit(slot);
        std::this_thread::sleep_for(50ms);
        EXPECT_EQ(driver.used_index(), slot) << why;
        notify();
        EXPECT_TRUE(wait_for([&] { return driver.used_index() == slot + 1; }, 5000ms));
    }

    // Whether a driver that makes one more buffer available now would notify,
    // as Linux's virtqueue_kick_prepare() decides it.
    bool driver_would_notify()
    {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (event_index()) {
            uint16_t const now = driver.next_available();
            return need_event(driver.available_event(), static_cast<uint16_t>(now + 1), now);
        }
        return (memory.read_object<uint16_t>(driver.used()) & 1) == 0; // VIRTQ_USED_F_NO_NOTIFY
    }

    GuestMemory memory { GuestMemory::create_flat(4 << 20) };
    QueueDriver driver { memory, 0x1000, 64 };
    std::shared_ptr<std::atomic<int>> interrupts { std::make_shared<std::atomic<int>>(0) };
    std::shared_ptr<MmioTransport> transport;
    EventLoop loop;
    std::thread io_thread;
    std::atomic<pid_t> io_thread_id { 0 };
};

TEST_P(BlockPolling, WithoutPollingARequestNeedsANotification)
{
    submit(0);
    notify();
    ASSERT_TRUE(wait_for([&] { return driver.used_index() == 1; }, 5000ms));
    EXPECT_TRUE(driver_would_notify());
    expect_request_waits_for_its_notification(1, "served without a notification, yet nothing polls");
}

TEST_P(BlockPolling, ARequestWithoutANotificationIsServedWhilePolling)
{
    // Long enough that a loaded test host does not end the poll before the second request.
    transport->set_polling(std::chrono::microseconds(400ms));
    submit(0);
    notify();
    ASSERT_TRUE(wait_for([&] { return driver.used_index() == 1; }, 5000ms));
    ASSERT_TRUE(wait_for([&] { return !driver_would_notify(); }, 5000ms)) << "notifications stay on while the device polls";
    driver.set_used_event(1); // An interrupt for the next completion, with VIRTIO_RING_F_EVENT_IDX.
    submit(1);
    EXPECT_TRUE(wait_for([&] { return driver.used_index() == 2; }, 300ms)) << "the poll did not find the request";
    EXPECT_EQ(memory.read_object<uint8_t>(requests + 0x2000 + 0x20), BlockDevice::Ok);
    EXPECT_GE(*interrupts, 2);
    // Polling goes on after the second request, then ends with notifications wanted again.
    EXPECT_TRUE(wait_for([&] { return driver_would_notify(); }, 5000ms));
}

TEST_P(BlockPolling, ThePollStopsAfterItsBound)
{
    auto const bound = 100ms;
    transport->set_polling(std::chrono::microseconds(bound));
    submit(0);
    notify();
    ASSERT_TRUE(wait_for([&] { return driver.used_index() == 1; }, 5000ms));
    auto const served = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_for([&] { return !driver_would_notify(); }, 5000ms)) << "the device did not poll";
    ASSERT_TRUE(wait_for([&] { return driver_would_notify(); }, 5000ms)) << "the poll did not end";
    auto const ended = std::chrono::steady_clock::now();
    // The bound runs from the end of the pass, a little before the driver saw its result.
    EXPECT_GE(ended - served, bound / 2);
    // Nothing polls any more: a request without a notification waits for one.
    expect_request_waits_for_its_notification(1, "served without a notification after the poll ended");
}

TEST_P(BlockPolling, ADriverThatPollsItsUsedRingGetsNoInterrupts)
{
    // What the guest-mode driver of scripts/bench-blk and Linux's poll
    // queues do: VRING_AVAIL_F_NO_INTERRUPT, or with VIRTIO_RING_F_EVENT_IDX
    // a used event far ahead. The device then writes no irqfd for them.
    auto const ask_for_interrupts = [&](bool wanted) {
        if (event_index())
            driver.set_used_event(wanted ? driver.used_index() : static_cast<uint16_t>(driver.used_index() + 0x7fff));
        else
            driver.set_available_flags(wanted ? 0 : 1);
    };
    transport->set_polling(std::chrono::microseconds(400ms));
    ask_for_interrupts(false);
    submit(0);
    notify();
    for (uint16_t slot = 1; slot < 8; ++slot) {
        ASSERT_TRUE(wait_for([&] { return driver.used_index() == slot; }, 5000ms));
        submit(slot); // Served by the poll or, on a loaded host, after a notification.
        if (driver_would_notify())
            notify();
    }
    ASSERT_TRUE(wait_for([&] { return driver.used_index() == 8; }, 5000ms));
    EXPECT_EQ(*interrupts, 0) << "interrupts the driver did not ask for";
    ask_for_interrupts(true);
    submit(8);
    if (driver_would_notify())
        notify();
    ASSERT_TRUE(wait_for([&] { return driver.used_index() == 9; }, 5000ms));
    EXPECT_TRUE(wait_for([&] { return *interrupts == 1; }, 5000ms)) << "the interrupt the driver asked for";
}

INSTANTIATE_TEST_SUITE_P(EventIndex, BlockPolling, ::testing::Bool(),
    [](auto const& info) { return info.param ? "EventIndex" : "UsedFlags"; });

TEST(VirtqueueNotifications, SuppressionAndItsEnd)
{
    auto memory = GuestMemory::create_flat(1 << 20);
    QueueDriver driver(memory, 0x1000, 16);
    Virtqueue queue(memory);
    driver.configure(queue);
    ASSERT_FALSE(queue.enable(feature::version_1 | feature::ring_event_index).has_value());
    DescriptorChain chain;
    driver.set_descriptor(0, 0x8000, 16);
    driver.make_available(0);
    ASSERT_EQ(queue.pop(chain), PopResult::Chain);
    EXPECT_FALSE(queue.set_driver_notifications(DriverNotifications::Suppressed));
    EXPECT_TRUE(queue.driver_notifications_suppressed());
    // Whatever the driver adds, in ones or in batches, needs no notification.
    EXPECT_FALSE(need_event(driver.available_event(), 2, 1));
    EXPECT_FALSE(need_event(driver.available_event(), 17, 1));
    EXPECT_FALSE(queue.publish_available_event());
    EXPECT_FALSE(need_event(driver.available_event(), 2, 1));
    // A request that arrived while suppressed is reported when notifications come back.
    driver.make_available(0);
    EXPECT_TRUE(queue.set_driver_notifications(DriverNotifications::Wanted));
    EXPECT_FALSE(queue.driver_notifications_suppressed());
    ASSERT_EQ(queue.pop(chain), PopResult::Chain);
    EXPECT_FALSE(queue.publish_available_event());
    EXPECT_TRUE(need_event(driver.available_event(), 3, 2));
    // A reset forgets the suppression.
    queue.reset();
    EXPECT_FALSE(queue.driver_notifications_suppressed());
}

}
