// virtio-blk through the io_uring backend on plain memory: a batch of mixed
// requests in one pass, the same bytes as the preadv path, short reads, the
// pass budget, and the choice of backend. Skips where io_uring is unavailable.
#include "vmm/devices/virtio/BlockBackend.h"
#include "vmm/devices/virtio/BlockDevice.h"
#include "tests/virtio/QueueDriver.h"

#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <map>
#include <random>
#include <sys/mman.h>
#include <unistd.h>

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::testing;

namespace {

constexpr uint64_t image_size = 16 << 20;
constexpr GuestAddress headers = 0x10000;  // 16 bytes per request.
constexpr GuestAddress statuses = 0x18000; // One byte per request.
constexpr GuestAddress buffers = 0x100000; // One segment_size_max buffer per request.
constexpr uint16_t queue_size = 64;

FileDescriptor make_image()
{
    FileDescriptor image(memfd_create("virtio-blk-backend-test", MFD_CLOEXEC));
    EXPECT_TRUE(image.is_valid());
    std::vector<uint8_t> bytes(image_size);
    for (size_t index = 0; index < bytes.size(); ++index)
        bytes[index] = static_cast<uint8_t>(index / 512 * 7 + index);
    EXPECT_EQ(pwrite(image.get(), bytes.data(), bytes.size(), 0), static_cast<ssize_t>(image_size));
    return image;
}

uint8_t image_byte(uint64_t offset)
{
    return static_cast<uint8_t>(offset / 512 * 7 + offset);
}

GuestAddress buffer_of(uint16_t request)
{
    return buffers + uint64_t { request } * BlockDevice::segment_size_max;
}

enum class Backend {
    Uring,
    Preadv,
};

class BlockBackendTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        auto image = make_image();
        image_fd = image.get();
        device = std::make_shared<BlockDevice>(std::move(image), image_size, BlockAccess::ReadWrite, "serial-2", "blk backend test");
        auto backend = select_block_backend(image_fd, "blk backend test");
        if (!backend)
            GTEST_SKIP() << "io_uring is unavailable on this host (io_uring_setup failed, or vmm was built without liburing)";
        device->set_backend(0, std::move(backend));
        driver.configure(queue);
        ASSERT_FALSE(queue.enable(feature::version_1).has_value());
    }

    // Makes request `index` available: header, one data buffer, status byte.
    void add(uint16_t index, uint32_t type, uint64_t sector, uint32_t data_length)
    {
        memory.write_object(headers + 16 * index, BlockDevice::RequestHeader { type, 0, sector });
        memory.write_object<uint8_t>(statuses + index, 0xaa);
        bool const device_writes = type == BlockDevice::In || type == BlockDevice::GetId;
        auto const head = static_cast<uint16_t>(3 * index);
        driver.set_descriptor(head, headers + 16 * index, sizeof(BlockDevice::RequestHeader), descriptor_flag::next, head + 1);
        driver.set_descriptor(head + 1, buffer_of(index), data_length, descriptor_flag::next | (device_writes ? descriptor_flag::write : 0), head + 2);
        driver.set_descriptor(head + 2, statuses + index, 1, descriptor_flag::write);
        driver.make_available(head);
    }

    uint8_t status(uint16_t index) const { return memory.read_object<uint8_t>(statuses + index); }

    // The used length of each request, by request index.
    std::map<uint16_t, uint32_t> used_lengths(uint16_t from, uint16_t to) const
    {
        std::map<uint16_t, uint32_t> lengths;
        for (uint16_t position = from; position != to; ++position) {
            auto const element = driver.used_element(position);
            lengths[static_cast<uint16_t>(element.id / 3)] = element.length;
        }
        return lengths;
    }

    GuestMemory memory { GuestMemory::create_flat(32 << 20) };
    QueueDriver driver { memory, 0x1000, queue_size };
    Virtqueue queue { memory };
    int image_fd { -1 };
    std::shared_ptr<BlockDevice> device;
};

}

TEST_F(BlockBackendTest, MixedBatchIsServedInOnePass)
{
    std::vector<uint8_t> pattern(4096, 0x3c);
    memory.write_bytes(buffer_of(4), pattern);
    add(0, BlockDevice::In, 0, 4096);
    add(1, BlockDevice::In, 1000, 512);
    add(2, BlockDevice::GetId, 0, 20);
    add(3, BlockDevice::In, image_size / 512 - 1, 1024); // Past the end.
    add(4, BlockDevice::Out, 64, 4096);
    add(5, BlockDevice::Flush, 0, 0);
    add(6, BlockDevice::In, 20000, 65536);
    ASSERT_EQ(device->process_queue(0, queue), QueueHealth::Healthy);
    ASSERT_EQ(driver.used_index(), 7);
    auto const lengths = used_lengths(0, 7);
    EXPECT_EQ(lengths.at(0), 4097u);
    EXPECT_EQ(lengths.at(1), 513u);
    EXPECT_EQ(lengths.at(2), 21u);
    EXPECT_EQ(lengths.at(3), 1u);
    EXPECT_EQ(lengths.at(4), 1u);
    EXPECT_EQ(lengths.at(6), 65537u);
    for (uint16_t index : { 0, 1, 2, 4, 5, 6 })
        EXPECT_EQ(status(index), BlockDevice::Ok) << "request " << index;
    EXPECT_EQ(status(3), BlockDevice::IoError);
    for (uint64_t offset = 0; offset < 4096; ++offset)
        ASSERT_EQ(memory.read_object<uint8_t>(buffer_of(0) + offset), image_byte(offset)) << offset;
    for (uint64_t offset = 0; offset < 65536; ++offset)
        ASSERT_EQ(memory.read_object<uint8_t>(buffer_of(6) + offset), image_byte(20000 * 512 + offset)) << offset;
    std::vector<uint8_t> written(4096);
    ASSERT_EQ(pread(image_fd, written.data(), written.size(), 64 * 512), 4096);
    EXPECT_EQ(written, pattern);
}

TEST_F(BlockBackendTest, WritesInABatchMakeTheNextFlushSync)
{
    // The flush the device was made with syncs once; then a pass of writes
    // through io_uring must make the next flush reach the image again.
    add(0, BlockDevice::Flush, 0, 0);
    ASSERT_EQ(device->process_queue(0, queue), QueueHealth::Healthy);
    add(1, BlockDevice::Flush, 0, 0);
    ASSERT_EQ(device->process_queue(0, queue), QueueHealth::Healthy);
    EXPECT_EQ(device->counters().clean_flushes, 1u);
    add(2, BlockDevice::Out, 0, 4096);
    add(3, BlockDevice::Out, 64, 4096);
    ASSERT_EQ(device->process_queue(0, queue), QueueHealth::Healthy);
    auto const before = device->counters();
    add(4, BlockDevice::Flush, 0, 0);
    ASSERT_EQ(device->process_queue(0, queue), QueueHealth::Healthy);
    auto const after = device->counters();
    EXPECT_EQ(after.clean_flushes, before.clean_flushes) << "the flush after the writes is not skipped";
    EXPECT_EQ(after.system_calls, before.system_calls + 1) << "one fdatasync";
    for (uint16_t index = 0; index < 5; ++index)
        EXPECT_EQ(status(index), BlockDevice::Ok) << "request " << index;
}

TEST_F(BlockBackendTest, SameBytesAsThePreadvPath)
{
    // The same random reads through both paths, into two buffer sets.
    std::mt19937 random(16);
    std::vector<std::pair<uint64_t, uint32_t>> reads;
    for (int index = 0; index < 16; ++index)
        reads.emplace_back(random() % (image_size / 512 - 256), (1 + random() % 256) * 512);
    auto read_all = [&](Backend backend) {
        device->set_backend(0, backend == Backend::Uring ? select_block_backend(image_fd, "blk backend test") : nullptr);
        uint16_t const before = driver.used_index();
        for (uint16_t index = 0; index < reads.size(); ++index)
            add(index, BlockDevice::In, reads[index].first, reads[index].second);
        EXPECT_EQ(device->process_queue(0, queue), QueueHealth::Healthy);
        EXPECT_EQ(driver.used_index(), static_cast<uint16_t>(before + reads.size()));
        std::vector<uint8_t> bytes;
        for (uint16_t index = 0; index < reads.size(); ++index) {
            EXPECT_EQ(status(index), BlockDevice::Ok);
            auto const data = memory.slice(buffer_of(index), reads[index].second);
            bytes.insert(bytes.end(), data.begin(), data.end());
            std::memset(data.data(), 0, data.size());
        }
        return bytes;
    };
    auto const through_uring = read_all(Backend::Uring);
    auto const through_preadv = read_all(Backend::Preadv);
    ASSERT_EQ(through_uring.size(), through_preadv.size());
    EXPECT_TRUE(through_uring == through_preadv);
    EXPECT_EQ(through_uring[0], image_byte(reads[0].first * 512));
}

TEST_F(BlockBackendTest, ShortReadOfAShrunkImageIsAnIoError)
{
    ASSERT_EQ(ftruncate(image_fd, 8192), 0);
    add(0, BlockDevice::In, 12, 4096); // Half of it is past the new end.
    add(1, BlockDevice::In, 0, 4096);
    ASSERT_EQ(device->process_queue(0, queue), QueueHealth::Healthy);
    EXPECT_EQ(status(0), BlockDevice::IoError);
    EXPECT_EQ(status(1), BlockDevice::Ok);
}

TEST_F(BlockBackendTest, PassStopsAtTheBudgetAndResumes)
{
    // Nine 1 MiB reads: eight fill the 8 MiB pass budget, the ninth waits for the next pass.
    static_assert(BlockDevice::pass_budget == 8 * BlockDevice::segment_size_max);
    for (uint16_t index = 0; index < 9; ++index)
        add(index, BlockDevice::In, index * 2048ull, BlockDevice::segment_size_max);
    EXPECT_EQ(device->process_queue(0, queue), QueueHealth::MoreWork);
    EXPECT_EQ(driver.used_index(), 8);
    EXPECT_EQ(device->process_queue(0, queue), QueueHealth::Healthy);
    EXPECT_EQ(driver.used_index(), 9);
    EXPECT_EQ(status(8), BlockDevice::Ok);
    EXPECT_EQ(memory.read_object<uint8_t>(buffer_of(8) + 5), image_byte(8 * 2048ull * 512 + 5));
}

TEST(BlockBackendChoice, EnvironmentKeepsThePreadvPath)
{
    FileDescriptor image(memfd_create("virtio-blk-backend-choice", MFD_CLOEXEC));
    ASSERT_TRUE(image.is_valid());
    ASSERT_EQ(setenv("VMM_BLOCK_BACKEND", "preadv", 1), 0);
    auto const backend = select_block_backend(image.get(), "blk choice test");
    ASSERT_EQ(unsetenv("VMM_BLOCK_BACKEND"), 0);
    EXPECT_EQ(backend, nullptr);
}
