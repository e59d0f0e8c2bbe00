// libFuzzer target: guest memory holding a split virtqueue of block
// requests, served through the MMIO transport by virtio-blk. Whatever the
// guest writes must neither crash, hang, nor touch memory outside guest RAM
// (AddressSanitizer watches the last).
//
// Input: byte 0 picks the queue size (2^(b % 9)), byte 1 the ring features
// (bit 0 event index, bit 1 indirect descriptors), the rest is guest memory
// from address 0. The queue is laid out compactly from 0: descriptors, the
// available ring, then the used ring (see layout()).
#include "devices/virtio/BlockDevice.h"
#include "devices/virtio/MmioTransport.h"
#include "virtio/QueueDriver.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace vmm;
using namespace vmm::virtio;

namespace {

constexpr uint64_t memory_size = 64 * 1024;
constexpr uint64_t image_size = 32 * 1024;

struct Fixture {
    Fixture()
    {
        spdlog::set_level(spdlog::level::off);
        FileDescriptor image(memfd_create("virtio-blk-fuzz", MFD_CLOEXEC));
        if (!image.is_valid() || ftruncate(image.get(), image_size) != 0)
            abort();
        device = std::make_shared<BlockDevice>(std::move(image), image_size, BlockAccess::ReadWrite, "fuzz", "blk fuzz");
        transport = std::make_unique<MmioTransport>(memory, device, std::make_unique<testing::CountingInterrupt>(interrupts));
    }

    GuestMemory memory { GuestMemory::create_flat(memory_size) };
    std::shared_ptr<std::atomic<int>> interrupts { std::make_shared<std::atomic<int>>(0) };
    std::shared_ptr<BlockDevice> device;
    std::unique_ptr<MmioTransport> transport;
};

void write_register(Device& device, uint64_t offset, uint32_t value)
{
    device.write(offset, { reinterpret_cast<uint8_t const*>(&value), sizeof(value) });
}

}

extern "C" int LLVMFuzzerTestOneInput(uint8_t const* data, size_t size)
{
    static Fixture fixture;
    if (size < 2)
        return 0;
    uint16_t const queue_size = static_cast<uint16_t>(1u << (data[0] % 9));
    uint64_t features = feature::version_1;
    if (data[1] & 1)
        features |= feature::ring_event_index;
    if (data[1] & 2)
        features |= feature::ring_indirect_descriptors;

    auto bytes = fixture.memory.slice(0, memory_size);
    std::memset(bytes.data(), 0, bytes.size());
    std::memcpy(bytes.data(), data + 2, std::min<size_t>(size - 2, memory_size));

    uint64_t const available = 16ull * queue_size;
    uint64_t const used = (available + 6 + 2ull * queue_size + 3) & ~3ull;
    auto& transport = *fixture.transport;
    write_register(transport, 0x70, 0);
    write_register(transport, 0x70, 1 | 2);
    write_register(transport, 0x24, 0);
    write_register(transport, 0x20, static_cast<uint32_t>(features));
    write_register(transport, 0x24, 1);
    write_register(transport, 0x20, static_cast<uint32_t>(features >> 32));
    write_register(transport, 0x70, 1 | 2 | 8);
    write_register(transport, 0x30, 0);
    write_register(transport, 0x38, queue_size);
    write_register(transport, 0x80, 0);
    write_register(transport, 0x90, static_cast<uint32_t>(available));
    write_register(transport, 0xa0, static_cast<uint32_t>(used));
    write_register(transport, 0x44, 1);
    write_register(transport, 0x70, 1 | 2 | 8 | 4);
    // Twice: the second pass starts from where the first left the indices.
    transport.process_queues();
    transport.process_queues();
    return 0;
}
