// virtio-blk's advertised limits (SEG_MAX, SIZE_MAX, a used length under
// 2^32) are enforced, and long transfers are served over several passes.
#include "vmm/devices/virtio/BlockDevice.h"
#include "vmm/devices/virtio/MmioTransport.h"
#include "tests/virtio/QueueDriver.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::testing;

namespace {

constexpr GuestAddress queue_address = 0x1000;
constexpr GuestAddress header_address = 0x20000;
constexpr GuestAddress status_address = 0x2f000;
constexpr GuestAddress table_address = 0x28000; // Indirect table: up to 2048 descriptors before the status.
constexpr GuestAddress data_address = 0x100000;

uint8_t pattern_byte(uint64_t offset)
{
    return static_cast<uint8_t>(offset * 7 + offset / 4096);
}

// A memfd image of `size` bytes; the first `filled` carry pattern_byte(), the rest is a hole.
FileDescriptor make_image(uint64_t size, uint64_t filled)
{
    FileDescriptor image(memfd_create("virtio-blk-limits", MFD_CLOEXEC));
    EXPECT_TRUE(image.is_valid());
    EXPECT_EQ(ftruncate(image.get(), static_cast<off_t>(size)), 0);
    std::vector<uint8_t> bytes(filled);
    for (uint64_t offset = 0; offset < filled; ++offset)
        bytes[offset] = pattern_byte(offset);
    EXPECT_EQ(pwrite(image.get(), bytes.data(), bytes.size(), 0), static_cast<ssize_t>(filled));
    return image;
}

class BlockLimits : public ::testing::Test {
protected:
    void use(uint64_t memory_size, uint64_t image_size, uint64_t filled)
    {
        memory.emplace(GuestMemory::create_flat(memory_size));
        driver.emplace(*memory, queue_address, 16);
        queue.emplace(*memory);
        driver->configure(*queue);
        ASSERT_FALSE(queue->enable(feature::version_1 | feature::ring_indirect_descriptors).has_value());
        device = std::make_shared<BlockDevice>(make_image(image_size, filled), image_size, BlockAccess::ReadWrite, "limits", "blk limits");
    }

    // Makes a read of sector 0 available: the header, one writable data
    // descriptor per (address, length) and the status byte, through an
    // indirect table.
    void submit_read(std::vector<std::pair<GuestAddress, uint32_t>> const& segments)
    {
        memory->write_object(header_address, BlockDevice::RequestHeader { BlockDevice::In, 0, 0 });
        memory->write_object<uint8_t>(status_address, 0xaa);
        uint16_t index = 0;
        QueueDriver::write_descriptor(*memory, table_address, index, header_address, 16, descriptor_flag::next, index + 1);
        ++index;
        for (auto const& [address, length] : segments) {
            QueueDriver::write_descriptor(*memory, table_address, index, address, length, descriptor_flag::next | descriptor_flag::write, index + 1);
            ++index;
        }
        QueueDriver::write_descriptor(*memory, table_address, index, status_address, 1, descriptor_flag::write, 0);
        driver->set_descriptor(0, table_address, (index + 1u) * 16u, descriptor_flag::indirect);
        driver->make_available(0);
    }

    // A read of `length` bytes in segments of SIZE_MAX, on a machine with
    // room for it and an image of that size.
    void submit_long_read(uint64_t length)
    {
        use(length + (4 << 20), length, length);
        std::vector<std::pair<GuestAddress, uint32_t>> segments;
        for (uint64_t offset = 0; offset < length; offset += BlockDevice::segment_size_max)
            segments.emplace_back(data_address + offset, BlockDevice::segment_size_max);
        submit_read(segments);
    }

    // Serves what is available in as many passes as the device asks for; returns the used length.
    uint32_t serve(int* passes = nullptr)
    {
        uint16_t const before = driver->used_index();
        int count = 1;
        QueueHealth health;
        while ((health = device->process_queue(0, *queue)) == QueueHealth::MoreWork)
            ++count;
        EXPECT_EQ(health, QueueHealth::Healthy);
        EXPECT_EQ(driver->used_index(), static_cast<uint16_t>(before + 1));
        if (passes)
            *passes = count;
        return driver->used_element(before).length;
    }

    uint8_t status() const { return memory->read_object<uint8_t>(status_address); }

    std::optional<GuestMemory> memory;
    std::optional<QueueDriver> driver;
    std::optional<Virtqueue> queue;
    std::shared_ptr<BlockDevice> device;
};

std::vector<std::pair<GuestAddress, uint32_t>> sectors(size_t count)
{
    std::vector<std::pair<GuestAddress, uint32_t>> segments;
    for (size_t index = 0; index < count; ++index)
        segments.emplace_back(data_address + index * 1024, 512);
    return segments;
}

}

TEST_F(BlockLimits, MoreThanSegMaxSegmentsIsAnIoError)
{
    use(4 << 20, 1 << 20, 1 << 20);
    submit_read(sectors(BlockDevice::segment_max));
    EXPECT_EQ(serve(), BlockDevice::segment_max * 512 + 1);
    EXPECT_EQ(status(), BlockDevice::Ok) << "SEG_MAX segments are fine";
    EXPECT_EQ(memory->read_object<uint8_t>(data_address + 127 * 1024 + 3), pattern_byte(127 * 512 + 3));

    submit_read(sectors(BlockDevice::segment_max + 1));
    EXPECT_EQ(serve(), 1u) << "nothing written but the status";
    EXPECT_EQ(status(), BlockDevice::IoError);
}

TEST_F(BlockLimits, SegmentOverSizeMaxIsAnIoError)
{
    use(8 << 20, 4 << 20, 4 << 20);
    uint32_t const size_max = BlockDevice::segment_size_max;
    // The same 1 MiB + 512 bytes (whole sectors) in two segments, split at SIZE_MAX, then one byte past it.
    submit_read({ { data_address, size_max }, { data_address + 2 * size_max, 512 } });
    EXPECT_EQ(serve(), size_max + 512 + 1);
    EXPECT_EQ(status(), BlockDevice::Ok);
    submit_read({ { data_address, size_max + 1 }, { data_address + 2 * size_max, 511 } });
    EXPECT_EQ(serve(), 1u);
    EXPECT_EQ(status(), BlockDevice::IoError);
}

TEST_F(BlockLimits, OverlappingHugeBuffersAreAnIoError)
{
    // Two writable buffers of 3 GiB over the same guest memory, against a
    // (sparse) 8 GiB image: 6 GiB would not even fit the used length.
    uint64_t const three_gib = 3ull << 30;
    use(three_gib + (1 << 20), 8ull << 30, 4096);
    submit_read({ { 1 << 20, static_cast<uint32_t>(three_gib) }, { 1 << 20, static_cast<uint32_t>(three_gib) } });
    EXPECT_EQ(serve(), 1u);
    EXPECT_EQ(status(), BlockDevice::IoError);
    submit_read({ { 1 << 20, static_cast<uint32_t>(three_gib) } });
    EXPECT_EQ(serve(), 1u);
    EXPECT_EQ(status(), BlockDevice::IoError) << "one 3 GiB segment is over SIZE_MAX too";
}

TEST_F(BlockLimits, LongTransferIsServedOverSeveralPasses)
{
    // 16 MiB in 16 segments of SIZE_MAX: twice the budget of one pass.
    uint64_t const length = 16 << 20;
    submit_long_read(length);
    int passes = 0;
    EXPECT_EQ(serve(&passes), length + 1);
    EXPECT_EQ(passes, static_cast<int>(length / BlockDevice::pass_budget));
    EXPECT_EQ(status(), BlockDevice::Ok);
    for (uint64_t offset : { uint64_t(0), BlockDevice::pass_budget - 1, BlockDevice::pass_budget, length - 1 })
        EXPECT_EQ(memory->read_object<uint8_t>(data_address + offset), pattern_byte(offset)) << offset;
}

TEST_F(BlockLimits, ResetAbandonsATransferUnderWay)
{
    uint64_t const length = 16 << 20;
    submit_long_read(length);
    EXPECT_EQ(device->process_queue(0, *queue), QueueHealth::MoreWork);
    device->reset();
    EXPECT_EQ(status(), 0xaa) << "no status for an unfinished request";
    EXPECT_EQ(driver->used_index(), 0);
}

TEST(BlockTransportPasses, MoreWorkWakesTheIoThreadAgain)
{
    uint64_t const length = 16 << 20;
    auto memory = GuestMemory::create_flat(length + (4 << 20));
    auto device = std::make_shared<BlockDevice>(make_image(length, 0), length, BlockAccess::ReadWrite, "passes", "blk passes");
    auto interrupts = std::make_shared<std::atomic<int>>(0);
    MmioTransport transport(memory, device, std::make_unique<CountingInterrupt>(interrupts));
    QueueDriver driver(memory, queue_address, 16);
    QueueDriver const* queues[] = { &driver };
    ASSERT_EQ(initialise(transport, feature::version_1 | feature::ring_indirect_descriptors, queues), 15u);
    memory.write_object(header_address, BlockDevice::RequestHeader { BlockDevice::In, 0, 0 });
    QueueDriver::write_descriptor(memory, table_address, 0, header_address, 16, descriptor_flag::next, 1);
    for (uint16_t index = 0; index < 16; ++index)
        QueueDriver::write_descriptor(memory, table_address, index + 1, data_address + index * uint64_t(BlockDevice::segment_size_max),
            BlockDevice::segment_size_max, descriptor_flag::next | descriptor_flag::write, index + 2);
    QueueDriver::write_descriptor(memory, table_address, 17, status_address, 1, descriptor_flag::write, 0);
    driver.set_descriptor(0, table_address, 18 * 16, descriptor_flag::indirect);
    driver.make_available(0);

    transport.process_queues();
    EXPECT_EQ(driver.used_index(), 0) << "half the transfer is left for the next pass";
    pollfd notify { transport.notify_fd(), POLLIN, 0 };
    ASSERT_EQ(poll(&notify, 1, 0), 1) << "the transport asked the I/O thread for another pass";
    transport.handle_notify_event();
    EXPECT_EQ(driver.used_index(), 1);
    EXPECT_EQ(memory.read_object<uint8_t>(status_address), BlockDevice::Ok);
    EXPECT_EQ(poll(&notify, 1, 0), 0) << "no pass is asked for when the work is done";
}
