// virtio-blk request parsing and I/O against a memfd image, on plain memory.
#include "common/Error.h"
#include "vmm/devices/virtio/BlockDevice.h"
#include "vmm/devices/virtio/MmioTransport.h"
#include "tests/virtio/QueueDriver.h"

#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::testing;

namespace {

constexpr uint64_t image_size = 1 << 20;
constexpr GuestAddress header_address = 0x20000;
constexpr GuestAddress data_address = 0x30000;
constexpr GuestAddress status_address = 0x2f000;

FileDescriptor make_image(uint64_t size)
{
    FileDescriptor image(memfd_create("virtio-blk-test", MFD_CLOEXEC));
    EXPECT_TRUE(image.is_valid());
    std::vector<uint8_t> bytes(size);
    for (size_t index = 0; index < bytes.size(); ++index)
        bytes[index] = static_cast<uint8_t>(index / 512 + index);
    EXPECT_EQ(pwrite(image.get(), bytes.data(), bytes.size(), 0), static_cast<ssize_t>(size));
    return image;
}

uint8_t image_byte(uint64_t offset)
{
    return static_cast<uint8_t>(offset / 512 + offset);
}

class BlockTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        auto image = make_image(image_size);
        image_fd = image.get();
        device = std::make_shared<BlockDevice>(std::move(image), image_size, BlockAccess::ReadWrite, "serial-1", "blk test");
        driver.configure(queue);
        ASSERT_FALSE(queue.enable(feature::version_1 | feature::ring_indirect_descriptors).has_value());
    }

    // Submits header, one data buffer and the status byte as three descriptors; returns the used length.
    uint32_t submit(uint32_t type, uint64_t sector, uint32_t data_length, bool data_writable)
    {
        memory.write_object(header_address, BlockDevice::RequestHeader { type, 0, sector });
        memory.write_object<uint8_t>(status_address, 0xaa);
        driver.set_descriptor(0, header_address, sizeof(BlockDevice::RequestHeader), descriptor_flag::next, 1);
        driver.set_descriptor(1, data_address, data_length, descriptor_flag::next | (data_writable ? descriptor_flag::write : 0), 2);
        driver.set_descriptor(2, status_address, 1, descriptor_flag::write);
        return serve();
    }

    uint32_t serve()
    {
        driver.make_available(0);
        uint16_t const before = driver.used_index();
        EXPECT_EQ(device->process_queue(0, queue), QueueHealth::Healthy);
        EXPECT_EQ(driver.used_index(), static_cast<uint16_t>(before + 1));
        return driver.used_element(before).length;
    }

    uint8_t status() const { return memory.read_object<uint8_t>(status_address); }

    GuestMemory memory { GuestMemory::create_flat(4 << 20) };
    QueueDriver driver { memory, 0x1000, 16 };
    Virtqueue queue { memory };
    int image_fd { -1 };
    std::shared_ptr<BlockDevice> device;
};

TEST_F(BlockTest, ConfigurationAndFeatures)
{
    uint64_t capacity = 0;
    uint32_t seg_max = 0;
    uint32_t block_size = 0;
    auto configuration = device->configuration();
    std::memcpy(&capacity, configuration.data(), 8);
    std::memcpy(&seg_max, configuration.data() + 12, 4);
    std::memcpy(&block_size, configuration.data() + 20, 4);
    EXPECT_EQ(capacity, image_size / 512);
    EXPECT_EQ(seg_max, BlockDevice::segment_max);
    EXPECT_EQ(block_size, 512u);
    EXPECT_TRUE(device->features() & (1u << 9)) << "FLUSH";
    EXPECT_FALSE(device->features() & (1u << 5)) << "RO";
    BlockDevice read_only(make_image(4096), 4096, BlockAccess::ReadOnly, "", "ro");
    EXPECT_TRUE(read_only.features() & (1u << 5));
}

TEST_F(BlockTest, ReadCopiesSectorsIntoGuestMemory)
{
    EXPECT_EQ(submit(BlockDevice::In, 3, 4096, true), 4097u);
    EXPECT_EQ(status(), BlockDevice::Ok);
    for (uint64_t offset = 0; offset < 4096; ++offset)
        ASSERT_EQ(memory.read_object<uint8_t>(data_address + offset), image_byte(3 * 512 + offset)) << offset;
}

TEST_F(BlockTest, WriteReachesTheImage)
{
    std::vector<uint8_t> pattern(1024, 0x5c);
    memory.write_bytes(data_address, pattern);
    EXPECT_EQ(submit(BlockDevice::Out, 10, 1024, false), 1u);
    EXPECT_EQ(status(), BlockDevice::Ok);
    std::vector<uint8_t> back(1024);
    ASSERT_EQ(pread(image_fd, back.data(), back.size(), 10 * 512), 1024);
    EXPECT_EQ(back, pattern);
}

TEST_F(BlockTest, RequestsPastCapacityFail)
{
    submit(BlockDevice::In, image_size / 512 - 1, 1024, true);
    EXPECT_EQ(status(), BlockDevice::IoError);
    submit(BlockDevice::In, ~0ull, 512, true);
    EXPECT_EQ(status(), BlockDevice::IoError);
    submit(BlockDevice::Out, image_size / 512, 512, false);
    EXPECT_EQ(status(), BlockDevice::IoError);
    submit(BlockDevice::In, image_size / 512 - 1, 512, true);
    EXPECT_EQ(status(), BlockDevice::Ok) << "the last sector is in range";
}

TEST_F(BlockTest, PartialSectorsFail)
{
    submit(BlockDevice::In, 0, 100, true);
    EXPECT_EQ(status(), BlockDevice::IoError);
}

TEST_F(BlockTest, ShortReadOfAShrunkImageIsAnIoError)
{
    ASSERT_EQ(ftruncate(image_fd, 4096), 0);
    submit(BlockDevice::In, 16, 512, true);
    EXPECT_EQ(status(), BlockDevice::IoError);
}

TEST_F(BlockTest, ReadOnlyDeviceRefusesWrites)
{
    device = std::make_shared<BlockDevice>(make_image(image_size), image_size, BlockAccess::ReadOnly, "", "ro");
    submit(BlockDevice::Out, 0, 512, false);
    EXPECT_EQ(status(), BlockDevice::IoError);
    submit(BlockDevice::In, 0, 512, true);
    EXPECT_EQ(status(), BlockDevice::Ok);
}

TEST_F(BlockTest, FlushSucceeds)
{
    EXPECT_EQ(submit(BlockDevice::Flush, 0, 0, false), 1u);
    EXPECT_EQ(status(), BlockDevice::Ok);
}

TEST_F(BlockTest, CountsRequestsBytesAndHostSystemCalls)
{
    submit(BlockDevice::In, 0, 4096, true);
    submit(BlockDevice::Out, 8, 1024, false);
    submit(BlockDevice::Flush, 0, 0, false);
    submit(BlockDevice::GetId, 0, 20, true);
    submit(BlockDevice::In, image_size / 512, 512, true); // Past the end: refused without a system call.
    auto const counted = device->counters();
    EXPECT_EQ(counted.reads, 1u);
    EXPECT_EQ(counted.read_bytes, 4096u);
    EXPECT_EQ(counted.writes, 1u);
    EXPECT_EQ(counted.write_bytes, 1024u);
    EXPECT_EQ(counted.flushes, 1u);
    EXPECT_EQ(counted.other_requests, 2u);
    EXPECT_EQ(counted.system_calls, 3u) << "one preadv, one pwritev, one fdatasync";
    EXPECT_NE(device->statistics().find("1 writes (1 KiB), 1 flushes (0 with nothing to sync"), std::string::npos) << device->statistics();
}

TEST_F(BlockTest, FlushSyncsOnlyWhenAWriteCompletedSinceTheLast)
{
    auto syscalls = [&] { return device->counters().system_calls; };
    submit(BlockDevice::Flush, 0, 0, false);
    EXPECT_EQ(syscalls(), 1u) << "the first flush syncs whatever the image held when vmm opened it";
    submit(BlockDevice::In, 0, 512, true);
    submit(BlockDevice::Flush, 0, 0, false);
    EXPECT_EQ(status(), BlockDevice::Ok);
    EXPECT_EQ(syscalls(), 2u) << "a read and a flush with nothing written: only the preadv";
    submit(BlockDevice::Out, 8, 512, false);
    submit(BlockDevice::Flush, 0, 0, false);
    EXPECT_EQ(status(), BlockDevice::Ok);
    EXPECT_EQ(syscalls(), 4u) << "the write's pwritev and the flush's fdatasync";
    submit(BlockDevice::Flush, 0, 0, false);
    EXPECT_EQ(syscalls(), 4u);
    auto const counted = device->counters();
    EXPECT_EQ(counted.flushes, 4u);
    EXPECT_EQ(counted.clean_flushes, 2u);
}

TEST_F(BlockTest, GetIdReturnsTheSerialPadded)
{
    std::vector<uint8_t> junk(20, 0xee);
    memory.write_bytes(data_address, junk);
    EXPECT_EQ(submit(BlockDevice::GetId, 0, 20, true), 21u);
    EXPECT_EQ(status(), BlockDevice::Ok);
    char serial[20];
    memory.read_bytes(data_address, { reinterpret_cast<uint8_t*>(serial), 20 });
    EXPECT_EQ(std::string(serial, 8), "serial-1");
    EXPECT_EQ(serial[8], 0);
    EXPECT_EQ(serial[19], 0);
}

TEST_F(BlockTest, UnknownTypesAreUnsupported)
{
    for (uint32_t type : { 2u, 11u, 13u, 0xffffffffu }) {
        EXPECT_EQ(submit(type, 0, 512, true), 1u);
        EXPECT_EQ(status(), BlockDevice::Unsupported) << type;
    }
}

TEST_F(BlockTest, HeaderAndStatusMayShareBuffersWithData)
{
    // Any layout: the header split 4 + 12 bytes, data and status in one writable buffer.
    memory.write_object(header_address, BlockDevice::RequestHeader { BlockDevice::In, 0, 1 });
    driver.set_descriptor(0, header_address, 4, descriptor_flag::next, 1);
    driver.set_descriptor(1, header_address + 4, 12, descriptor_flag::next, 2);
    driver.set_descriptor(2, data_address, 513, descriptor_flag::write);
    EXPECT_EQ(serve(), 513u);
    EXPECT_EQ(memory.read_object<uint8_t>(data_address + 512), BlockDevice::Ok);
    EXPECT_EQ(memory.read_object<uint8_t>(data_address), image_byte(512));
}

TEST_F(BlockTest, ManySegmentsInAnIndirectTable)
{
    GuestAddress const table = 0x3f0000;
    memory.write_object(header_address, BlockDevice::RequestHeader { BlockDevice::In, 0, 0 });
    uint16_t const segments = 100;
    QueueDriver::write_descriptor(memory, table, 0, header_address, 16, descriptor_flag::next, 1);
    for (uint16_t index = 0; index < segments; ++index)
        QueueDriver::write_descriptor(memory, table, index + 1, data_address + index * 1024, 512, descriptor_flag::next | descriptor_flag::write, index + 2);
    QueueDriver::write_descriptor(memory, table, segments + 1, status_address, 1, descriptor_flag::write, 0);
    driver.set_descriptor(0, table, (segments + 2) * 16, descriptor_flag::indirect);
    EXPECT_EQ(serve(), segments * 512u + 1);
    EXPECT_EQ(status(), BlockDevice::Ok);
    EXPECT_EQ(memory.read_object<uint8_t>(data_address + 99 * 1024 + 7), image_byte(99 * 512 + 7));
}

TEST_F(BlockTest, RequestsWithoutHeaderOrStatusAreReturnedEmpty)
{
    driver.set_descriptor(0, header_address, 8);
    EXPECT_EQ(serve(), 0u);
    memory.write_object(header_address, BlockDevice::RequestHeader { BlockDevice::In, 0, 0 });
    driver.set_descriptor(0, header_address, 16);
    EXPECT_EQ(serve(), 0u);
}

TEST_F(BlockTest, DataBufferOutsideMemoryFailsOnlyThatRequest)
{
    memory.write_object(header_address, BlockDevice::RequestHeader { BlockDevice::In, 0, 0 });
    driver.set_descriptor(0, header_address, 16, descriptor_flag::next, 1);
    driver.set_descriptor(1, (4 << 20) - 256, 512, descriptor_flag::next | descriptor_flag::write, 2);
    driver.set_descriptor(2, status_address, 1, descriptor_flag::write);
    EXPECT_EQ(serve(), 0u);
    EXPECT_EQ(submit(BlockDevice::In, 0, 512, true), 513u);
}

class ImageFile : public ::testing::Test {
protected:
    void SetUp() override
    {
        path = std::filesystem::temp_directory_path() / ("vmm-blk-lock-" + std::to_string(getpid()));
        auto image = FileDescriptor::open(path.string(), O_RDWR | O_CREAT | O_TRUNC, 0600);
        ASSERT_EQ(ftruncate(image.get(), 8192), 0);
    }
    void TearDown() override { std::filesystem::remove(path); }
    std::filesystem::path path;
};

TEST_F(ImageFile, WritableImageIsLockedAgainstASecondUser)
{
    auto first = BlockDevice::open(path.string(), BlockAccess::ReadWrite);
    EXPECT_EQ(first->capacity(), 16u);
    try {
        BlockDevice::open(path.string(), BlockAccess::ReadWrite);
        FAIL() << "a second read-write open succeeded";
    } catch (Error const& error) {
        EXPECT_NE(std::string(error.what()).find("in use"), std::string::npos) << error.what();
    }
    EXPECT_THROW(BlockDevice::open(path.string(), BlockAccess::ReadOnly), Error);
    first.reset();
    EXPECT_NO_THROW(BlockDevice::open(path.string(), BlockAccess::ReadWrite));
}

TEST_F(ImageFile, ReadOnlyUsersShareTheImage)
{
    auto first = BlockDevice::open(path.string(), BlockAccess::ReadOnly);
    auto second = BlockDevice::open(path.string(), BlockAccess::ReadOnly);
    EXPECT_THROW(BlockDevice::open(path.string(), BlockAccess::ReadWrite), Error);
}

TEST(BlockImage, MissingOrTinyImagesAreClearErrors)
{
    EXPECT_THROW(BlockDevice::open("/nonexistent/image.ext4", BlockAccess::ReadOnly), Error);
    EXPECT_THROW(BlockDevice::open("/dev/null", BlockAccess::ReadOnly), Error);
}

TEST(BlockTransport, EndToEndThroughTheMmioRegisters)
{
    auto memory = GuestMemory::create_flat(4 << 20);
    auto interrupts = std::make_shared<std::atomic<int>>(0);
    auto device = std::make_shared<BlockDevice>(make_image(image_size), image_size, BlockAccess::ReadWrite, "e2e", "blk e2e");
    MmioTransport transport(memory, device, std::make_unique<CountingInterrupt>(interrupts));
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_DEVICE_ID), 2u);
    uint64_t capacity = 0;
    transport.read(VIRTIO_MMIO_CONFIG, { reinterpret_cast<uint8_t*>(&capacity), 8 });
    EXPECT_EQ(capacity, image_size / 512);
    QueueDriver driver(memory, 0x1000, 256);
    QueueDriver const* queues[] = { &driver };
    ASSERT_EQ(initialise(transport, feature::version_1 | feature::ring_event_index | feature::ring_indirect_descriptors, queues), 15u);
    for (uint16_t request = 0; request < 4; ++request) {
        GuestAddress const header = 0x100000 + request * 0x10000;
        memory.write_object(header, BlockDevice::RequestHeader { BlockDevice::In, 0, request * 8u });
        driver.set_descriptor(request * 3, header, 16, descriptor_flag::next, request * 3 + 1);
        driver.set_descriptor(request * 3 + 1, header + 0x1000, 4096, descriptor_flag::next | descriptor_flag::write, request * 3 + 2);
        driver.set_descriptor(request * 3 + 2, header + 0x20, 1, descriptor_flag::write);
        driver.make_available(request * 3);
    }
    write_register(transport, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    transport.handle_notify_event();
    EXPECT_EQ(driver.used_index(), 4);
    EXPECT_EQ(*interrupts, 1);
    auto const counted = transport.counters();
    EXPECT_EQ(counted.notifications, 1u);
    EXPECT_EQ(counted.passes, 1u);
    EXPECT_EQ(counted.interrupts, 1u) << "one interrupt for the four requests of one pass";
    EXPECT_EQ(device->counters().reads, 4u);
    EXPECT_NE(transport.statistics().find("1 notifications, 1 passes, 1 used-buffer interrupts"), std::string::npos) << transport.statistics();
    EXPECT_EQ(memory.read_object<uint8_t>(0x130000 + 0x1000 + 5), image_byte(24 * 512 + 5));
}

}
