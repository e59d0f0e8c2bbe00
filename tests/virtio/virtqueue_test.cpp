// Split virtqueue walking on plain memory: chains, indirect tables,
// wrap-around, event index, and every malformed input the guest can write.
#include "vmm/devices/virtio/Virtio.h"
#include "vmm/devices/virtio/Virtqueue.h"
#include "tests/virtio/QueueDriver.h"

#include <gtest/gtest.h>

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::testing;

namespace {

constexpr uint64_t all_ring_features = feature::version_1 | feature::ring_event_index | feature::ring_indirect_descriptors;
constexpr GuestAddress data_area = 0x10000;

class VirtqueueTest : public ::testing::Test {
protected:
    void SetUp() override { enable(); }
    void enable(uint64_t features = all_ring_features)
    {
        queue.reset();
        driver.configure(queue);
        ASSERT_FALSE(queue.enable(features).has_value());
    }

    GuestMemory memory { GuestMemory::create_flat(1 << 20) };
    QueueDriver driver { memory, 0x1000, 8 };
    Virtqueue queue { memory };
    DescriptorChain chain;
};

TEST_F(VirtqueueTest, EmptyQueuePopsNothing)
{
    EXPECT_EQ(queue.pop(chain), PopResult::Empty);
    EXPECT_FALSE(queue.has_available());
}

TEST_F(VirtqueueTest, ChainResolvesReadableThenWritableBuffers)
{
    driver.set_descriptor(3, data_area, 16, descriptor_flag::next, 5);
    driver.set_descriptor(5, data_area + 0x100, 512, descriptor_flag::next | descriptor_flag::write, 1);
    driver.set_descriptor(1, data_area + 0x400, 1, descriptor_flag::write);
    driver.make_available(3);
    ASSERT_EQ(queue.pop(chain), PopResult::Chain);
    EXPECT_EQ(chain.head, 3);
    ASSERT_EQ(chain.readable.size(), 1u);
    ASSERT_EQ(chain.writable.size(), 2u);
    EXPECT_EQ(chain.readable_length, 16u);
    EXPECT_EQ(chain.writable_length, 513u);
    EXPECT_EQ(chain.readable[0].data(), memory.slice(data_area, 16).data());
    EXPECT_EQ(chain.writable[1].data(), memory.slice(data_area + 0x400, 1).data());
    EXPECT_EQ(queue.pop(chain), PopResult::Empty);
}

TEST_F(VirtqueueTest, UsedElementsReachTheDriver)
{
    driver.set_descriptor(0, data_area, 8, descriptor_flag::write);
    driver.make_available(0);
    ASSERT_EQ(queue.pop(chain), PopResult::Chain);
    queue.push_used(chain.head, 8);
    EXPECT_EQ(driver.used_index(), 1);
    EXPECT_EQ(driver.used_element(0).id, 0u);
    EXPECT_EQ(driver.used_element(0).length, 8u);
}

TEST_F(VirtqueueTest, IndirectTableIsWalked)
{
    GuestAddress const table = data_area + 0x8000;
    QueueDriver::write_descriptor(memory, table, 0, data_area, 16, descriptor_flag::next, 2);
    QueueDriver::write_descriptor(memory, table, 2, data_area + 0x100, 4096, descriptor_flag::next | descriptor_flag::write, 1);
    QueueDriver::write_descriptor(memory, table, 1, data_area + 0x2000, 1, descriptor_flag::write, 0);
    driver.set_descriptor(6, table, 3 * 16, descriptor_flag::indirect);
    driver.make_available(6);
    ASSERT_EQ(queue.pop(chain), PopResult::Chain);
    EXPECT_EQ(chain.head, 6);
    EXPECT_EQ(chain.readable.size(), 1u);
    EXPECT_EQ(chain.writable.size(), 2u);
    EXPECT_EQ(chain.writable_length, 4097u);
}

TEST_F(VirtqueueTest, IndirectWithoutTheFeatureFailsTheRequest)
{
    enable(feature::version_1);
    driver.set_descriptor(0, data_area, 16, descriptor_flag::indirect);
    driver.make_available(0);
    EXPECT_EQ(queue.pop(chain), PopResult::InvalidChain);
    EXPECT_EQ(chain.head, 0);
}

TEST_F(VirtqueueTest, NestedIndirectTableFailsTheRequest)
{
    GuestAddress const table = data_area + 0x8000;
    QueueDriver::write_descriptor(memory, table, 0, table, 16, descriptor_flag::indirect, 0);
    driver.set_descriptor(0, table, 16, descriptor_flag::indirect);
    driver.make_available(0);
    EXPECT_EQ(queue.pop(chain), PopResult::InvalidChain);
}

TEST_F(VirtqueueTest, BadIndirectTableLengthsFailTheRequest)
{
    for (uint32_t length : { 0u, 15u, 17u, (Virtqueue::max_indirect_descriptors + 1) * 16 }) {
        driver.set_descriptor(0, data_area, length, descriptor_flag::indirect);
        driver.make_available(0);
        EXPECT_EQ(queue.pop(chain), PopResult::InvalidChain) << length;
    }
    driver.set_descriptor(0, (1 << 20) - 16, 32, descriptor_flag::indirect);
    driver.make_available(0);
    EXPECT_EQ(queue.pop(chain), PopResult::InvalidChain);
}

TEST_F(VirtqueueTest, LoopInIndirectTableEnds)
{
    GuestAddress const table = data_area + 0x8000;
    QueueDriver::write_descriptor(memory, table, 0, data_area, 1, descriptor_flag::next, 1);
    QueueDriver::write_descriptor(memory, table, 1, data_area, 1, descriptor_flag::next, 0);
    driver.set_descriptor(0, table, 32, descriptor_flag::indirect);
    driver.make_available(0);
    EXPECT_EQ(queue.pop(chain), PopResult::InvalidChain);
}

TEST_F(VirtqueueTest, LoopInChainFailsTheRequestWithoutHanging)
{
    driver.set_descriptor(0, data_area, 1, descriptor_flag::next, 1);
    driver.set_descriptor(1, data_area, 1, descriptor_flag::next, 0);
    driver.make_available(0);
    EXPECT_EQ(queue.pop(chain), PopResult::InvalidChain);
    // The queue goes on: the next request is served.
    driver.set_descriptor(2, data_area, 1);
    driver.make_available(2);
    EXPECT_EQ(queue.pop(chain), PopResult::Chain);
    EXPECT_EQ(chain.head, 2);
}

TEST_F(VirtqueueTest, SelfLoopFailsTheRequest)
{
    driver.set_descriptor(4, data_area, 1, descriptor_flag::next, 4);
    driver.make_available(4);
    EXPECT_EQ(queue.pop(chain), PopResult::InvalidChain);
}

TEST_F(VirtqueueTest, NextPastTheTableFailsTheRequest)
{
    driver.set_descriptor(0, data_area, 1, descriptor_flag::next, 8);
    driver.make_available(0);
    EXPECT_EQ(queue.pop(chain), PopResult::InvalidChain);
}

TEST_F(VirtqueueTest, BuffersOutsideGuestMemoryFailTheRequest)
{
    driver.set_descriptor(0, (1 << 20) - 8, 16);
    driver.make_available(0);
    EXPECT_EQ(queue.pop(chain), PopResult::InvalidChain);
    driver.set_descriptor(1, ~0ull - 4, 16);
    driver.make_available(1);
    EXPECT_EQ(queue.pop(chain), PopResult::InvalidChain);
    driver.set_descriptor(2, 0, 0xffffffff);
    driver.make_available(2);
    EXPECT_EQ(queue.pop(chain), PopResult::InvalidChain);
}

TEST_F(VirtqueueTest, ReadableAfterWritableFailsTheRequest)
{
    driver.set_descriptor(0, data_area, 1, descriptor_flag::write | descriptor_flag::next, 1);
    driver.set_descriptor(1, data_area, 1);
    driver.make_available(0);
    EXPECT_EQ(queue.pop(chain), PopResult::InvalidChain);
}

TEST_F(VirtqueueTest, HeadPastTheTableBreaksTheQueue)
{
    driver.make_available(8);
    EXPECT_EQ(queue.pop(chain), PopResult::BrokenQueue);
    EXPECT_FALSE(queue.last_error().empty());
}

TEST_F(VirtqueueTest, AvailableIndexJumpBreaksTheQueue)
{
    driver.publish_available_index(9);
    EXPECT_EQ(queue.pop(chain), PopResult::BrokenQueue);
}

TEST_F(VirtqueueTest, IndicesWrapAroundTheRingAndSixteenBits)
{
    driver.set_descriptor(0, data_area, 4, descriptor_flag::write);
    // More than 65536 requests: ring positions and the 16-bit indices both wrap.
    for (uint32_t round = 0; round < 70000; ++round) {
        driver.make_available(0);
        ASSERT_EQ(queue.pop(chain), PopResult::Chain) << round;
        queue.push_used(chain.head, round & 0xffff);
        ASSERT_EQ(driver.used_index(), static_cast<uint16_t>(round + 1));
        ASSERT_EQ(driver.used_element(static_cast<uint16_t>(round)).length, round & 0xffff);
    }
    EXPECT_EQ(queue.pop(chain), PopResult::Empty);
}

TEST_F(VirtqueueTest, DrainServesEverythingAndPublishesTheAvailableEvent)
{
    for (uint16_t index = 0; index < 5; ++index) {
        driver.set_descriptor(index, data_area + index * 16, 16, descriptor_flag::write);
        driver.make_available(index);
    }
    int served = 0;
    EXPECT_EQ(queue.drain(chain, [&](DescriptorChain const& request) { ++served; return static_cast<uint32_t>(request.writable_length); }), QueueHealth::Healthy);
    EXPECT_EQ(served, 5);
    EXPECT_EQ(driver.used_index(), 5);
    EXPECT_EQ(driver.available_event(), 5);
}

TEST_F(VirtqueueTest, EventIndexSuppressesInterruptsUntilTheDriverAsks)
{
    driver.set_descriptor(0, data_area, 4, descriptor_flag::write);
    auto serve_one = [&] {
        driver.make_available(0);
        ASSERT_EQ(queue.pop(chain), PopResult::Chain);
        queue.push_used(0, 4);
    };
    // The driver wants an interrupt once used index passes 0 (i.e. for the first element).
    driver.set_used_event(0);
    serve_one();
    EXPECT_TRUE(queue.needs_interrupt());
    // It has not moved its used event on: no more interrupts.
    serve_one();
    EXPECT_FALSE(queue.needs_interrupt());
    // Asking for the element after the 3rd: serving the 3rd is not enough, the 4th is.
    driver.set_used_event(3);
    serve_one();
    EXPECT_FALSE(queue.needs_interrupt());
    serve_one();
    EXPECT_TRUE(queue.needs_interrupt());
    // Nothing new: nothing to signal.
    EXPECT_FALSE(queue.needs_interrupt());
}

TEST_F(VirtqueueTest, NoInterruptFlagIsHonouredWithoutEventIndex)
{
    enable(feature::version_1);
    driver.set_descriptor(0, data_area, 4, descriptor_flag::write);
    driver.make_available(0);
    ASSERT_EQ(queue.pop(chain), PopResult::Chain);
    queue.push_used(0, 4);
    driver.set_available_flags(1);
    EXPECT_FALSE(queue.needs_interrupt());
    driver.make_available(0);
    ASSERT_EQ(queue.pop(chain), PopResult::Chain);
    queue.push_used(0, 4);
    driver.set_available_flags(0);
    EXPECT_TRUE(queue.needs_interrupt());
    EXPECT_FALSE(queue.publish_available_event());
}

TEST(VirtqueueEnable, RefusesBadSizesAlignmentAndPlacement)
{
    auto memory = GuestMemory::create_flat(1 << 20);
    QueueDriver driver(memory, 0x1000, 8);
    Virtqueue queue(memory);
    auto try_enable = [&](auto change) {
        queue.reset();
        driver.configure(queue);
        change();
        return queue.enable(feature::version_1);
    };
    EXPECT_FALSE(try_enable([] { }).has_value());
    EXPECT_TRUE(queue.is_ready());
    EXPECT_TRUE(try_enable([&] { queue.set_size(0); }).has_value());
    EXPECT_TRUE(try_enable([&] { queue.set_size(6); }).has_value());
    EXPECT_TRUE(try_enable([&] { queue.set_size(512); }).has_value());
    EXPECT_TRUE(try_enable([&] { queue.set_descriptor_table(0x1008); }).has_value());
    EXPECT_TRUE(try_enable([&] { queue.set_available_ring(0x1001); }).has_value());
    EXPECT_TRUE(try_enable([&] { queue.set_used_ring(0x2002); }).has_value());
    EXPECT_TRUE(try_enable([&] { queue.set_used_ring((1 << 20) - 8); }).has_value());
    EXPECT_TRUE(try_enable([&] { queue.set_descriptor_table(~0ull & ~15ull); }).has_value());
    EXPECT_FALSE(queue.is_ready());
}

}
