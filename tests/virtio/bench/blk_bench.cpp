// blk_bench IMAGE seq|rand BLOCK_SIZE QUEUE_DEPTH SECONDS
//
// Measures virtio-blk's device path on this host: a driver thread builds
// request chains (header, data, status) in guest memory, signals the queue's
// notification eventfd as KVM's ioeventfd would, and waits on the interrupt
// eventfd that KVM's irqfd would consume; the device serves the queue on an
// I/O thread (EventLoop), exactly as in a VM. No guest runs: there are no
// VM exits or guest interrupt handling in these figures. Then the same read
// pattern with pread() on the host, for comparison.
#include "common/Error.h"
#include "common/EventLoop.h"
#include "common/MappedRegion.h"
#include "vmm/devices/virtio/BlockDevice.h"
#include "vmm/devices/virtio/InterruptLine.h"
#include "vmm/devices/virtio/MmioTransport.h"
#include "tests/virtio/QueueDriver.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::testing;
using Clock = std::chrono::steady_clock;

namespace {

enum class Pattern {
    Sequential,
    Random,
};

struct Options {
    std::string image;
    Pattern pattern { Pattern::Sequential };
    uint32_t block_size { 128 * 1024 };
    uint32_t queue_depth { 32 };
    double seconds { 3 };
    std::chrono::microseconds poll { 0 }; // MmioTransport::set_polling(), as vmm boot --blk-poll-us sets it.
};

struct Figures {
    uint64_t requests { 0 };
    double seconds { 0 };
    uint64_t interrupts { 0 };
};

// The block (in units of block_size) the n-th request reads.
class Offsets {
public:
    Offsets(Pattern pattern, uint64_t blocks)
        : m_pattern(pattern)
        , m_blocks(blocks)
    {
    }
    uint64_t next()
    {
        if (m_pattern == Pattern::Sequential)
            return m_next++ % m_blocks;
        // xorshift64: cheap and good enough to defeat read-ahead.
        m_state ^= m_state << 13;
        m_state ^= m_state >> 7;
        m_state ^= m_state << 17;
        return m_state % m_blocks;
    }

private:
    Pattern m_pattern;
    uint64_t m_blocks;
    uint64_t m_next { 0 };
    uint64_t m_state { 0x9e3779b97f4a7c15ull };
};

bool need_event(uint16_t event, uint16_t new_index, uint16_t old_index)
{
    return static_cast<uint16_t>(new_index - event - 1) < static_cast<uint16_t>(new_index - old_index);
}

Figures run_device(Options const& options)
{
    constexpr GuestAddress queue_address = 0x10000;
    constexpr GuestAddress headers = 0x100000;
    constexpr GuestAddress statuses = 0x110000;
    constexpr GuestAddress data = 0x200000;
    uint16_t const queue_size = 256;
    if (options.queue_depth == 0 || options.queue_depth * 3 > queue_size)
        throw Error(fmt::format("queue depth must be 1 to {}", queue_size / 3));
    auto memory = GuestMemory::create_flat(data + uint64_t(options.queue_depth) * options.block_size);

    auto device = BlockDevice::open(options.image, BlockAccess::ReadOnly);
    device->set_backend(select_block_backend(device->image_fd(), device->name())); // As vmm's device factory does.
    uint64_t const blocks = device->capacity() * BlockDevice::sector_size / options.block_size;
    if (blocks == 0)
        throw Error("the image is smaller than one block");
    auto interrupt = std::make_unique<EventFdInterrupt>();
    int const interrupt_fd = interrupt->fd();
    auto transport = std::make_shared<MmioTransport>(memory, device, std::move(interrupt));
    transport->set_polling(options.poll);

    EventLoop loop;
    loop.add(transport->notify_fd(), [&](uint32_t) { transport->handle_notify_event(); });
    std::thread io_thread([&] { loop.run(); });

    QueueDriver driver(memory, queue_address, queue_size);
    QueueDriver const* queues[] = { &driver };
    if (initialise(*transport, feature::version_1 | feature::ring_event_index, queues) != 15)
        throw Error("the device refused the driver");

    Offsets offsets(options.pattern, blocks);
    auto submit = [&](uint16_t slot) {
        uint64_t const sector = offsets.next() * options.block_size / BlockDevice::sector_size;
        memory.write_object(headers + 16 * slot, BlockDevice::RequestHeader { BlockDevice::In, 0, sector });
        uint16_t const first = slot * 3;
        driver.set_descriptor(first, headers + 16 * slot, 16, descriptor_flag::next, first + 1);
        driver.set_descriptor(first + 1, data + uint64_t(slot) * options.block_size, options.block_size, descriptor_flag::next | descriptor_flag::write, first + 2);
        driver.set_descriptor(first + 2, statuses + slot, 1, descriptor_flag::write);
        driver.make_available(first);
    };
    uint16_t notified_at = driver.next_available();
    auto notify = [&] {
        // Notify only if the device asked (its available event), as Linux's virtqueue_kick_prepare() does.
        uint16_t const now = driver.next_available();
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (need_event(driver.available_event(), now, notified_at)) {
            uint64_t const one = 1;
            if (::write(transport->notify_fd(), &one, sizeof(one)) != sizeof(one))
                throw_system_error("write", "queue notification");
        }
        notified_at = now;
    };

    Figures figures;
    auto const start = Clock::now();
    auto const deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
    for (uint16_t slot = 0; slot < options.queue_depth; ++slot)
        submit(slot);
    notify();
    uint16_t last_used = 0;
    uint32_t in_flight = options.queue_depth;
    bool stopping = false;
    while (in_flight > 0) {
        uint16_t const used = driver.used_index();
        if (used == last_used) {
            // Ask for an interrupt at the next completion, then check again before sleeping.
            driver.set_used_event(last_used);
            std::atomic_thread_fence(std::memory_order_seq_cst);
            if (driver.used_index() != last_used)
                continue;
            pollfd wait { interrupt_fd, POLLIN, 0 };
            if (poll(&wait, 1, 5000) <= 0)
                throw Error("no interrupt from the device in 5 s");
            uint64_t count = 0;
            if (::read(interrupt_fd, &count, sizeof(count)) == sizeof(count))
                figures.interrupts += count;
            continue;
        }
        stopping = stopping || Clock::now() >= deadline;
        for (; last_used != used; ++last_used) {
            auto const element = driver.used_element(last_used);
            uint16_t const slot = static_cast<uint16_t>(element.id / 3);
            if (memory.read_object<uint8_t>(statuses + slot) != BlockDevice::Ok)
                throw Error("the device failed a read");
            ++figures.requests;
            if (stopping)
                --in_flight;
            else
                submit(slot);
        }
        if (!stopping)
            notify();
    }
    figures.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    loop.stop();
    io_thread.join();
    return figures;
}

Figures run_host(Options const& options)
{
    auto image = FileDescriptor::open(options.image, O_RDONLY);
    off_t const size = lseek(image.get(), 0, SEEK_END);
    uint64_t const blocks = static_cast<uint64_t>(size) / options.block_size;
    // The same kind of memory as the guest's, one slot per request in flight as in the device run.
    auto buffers = MappedRegion::anonymous(uint64_t(options.queue_depth) * options.block_size);
    uint32_t slot = 0;
    Offsets offsets(options.pattern, blocks);
    Figures figures;
    auto const start = Clock::now();
    auto const deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
    while (Clock::now() < deadline) {
        for (int batch = 0; batch < 64; ++batch) {
            uint8_t* buffer = buffers.data() + uint64_t(slot++ % options.queue_depth) * options.block_size;
            if (pread(image.get(), buffer, options.block_size, static_cast<off_t>(offsets.next() * options.block_size)) != static_cast<ssize_t>(options.block_size))
                throw_system_error("pread", options.image);
            ++figures.requests;
        }
    }
    figures.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return figures;
}

std::string describe(Figures const& figures, uint32_t block_size)
{
    double const iops = figures.requests / figures.seconds;
    return fmt::format("{:9.1f} MiB/s {:10.0f} IOPS", iops * block_size / (1024.0 * 1024.0), iops);
}

}

int main(int argc, char** argv)
{
    if (argc != 6 && argc != 7) {
        std::fprintf(stderr, "usage: blk_bench IMAGE seq|rand BLOCK_SIZE QUEUE_DEPTH SECONDS [POLL_US]\n");
        return 2;
    }
    try {
        Options options;
        options.image = argv[1];
        options.pattern = std::string(argv[2]) == "rand" ? Pattern::Random : Pattern::Sequential;
        options.block_size = static_cast<uint32_t>(std::strtoul(argv[3], nullptr, 0));
        options.queue_depth = static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 0));
        options.seconds = std::strtod(argv[5], nullptr);
        if (options.block_size == 0 || options.block_size % 512 != 0 || options.block_size > BlockDevice::segment_size_max)
            throw Error("BLOCK_SIZE must be a multiple of 512 up to 1 MiB");
        uint64_t const poll_us = argc == 7 ? std::strtoull(argv[6], nullptr, 0) : 0;
        auto const device = run_device(options);
        // With POLL_US, the same run again with polling, next to the run without it and to the host's reads.
        std::optional<Figures> polled;
        if (poll_us > 0) {
            Options polling = options;
            polling.poll = std::chrono::microseconds(poll_us);
            polled = run_device(polling);
        }
        auto const host = run_host(options);
        auto const host_rate = host.requests / host.seconds;
        std::string const label = fmt::format("{} {} KiB reads, queue depth {}", argv[2], options.block_size / 1024, options.queue_depth);
        std::printf("%-36s virtio-blk %s  device/host %3.0f%%  (%.2f requests per interrupt)\n", label.c_str(), describe(device, options.block_size).c_str(),
            100.0 * (device.requests / device.seconds) / host_rate, device.interrupts ? double(device.requests) / device.interrupts : 0.0);
        if (polled) {
            std::string const poll_label = fmt::format("  polling {} us", poll_us);
            std::printf("%-36s virtio-blk %s  device/host %3.0f%%  (%.2f requests per interrupt; %.2fx without polling)\n", poll_label.c_str(),
                describe(*polled, options.block_size).c_str(), 100.0 * (polled->requests / polled->seconds) / host_rate,
                polled->interrupts ? double(polled->requests) / polled->interrupts : 0.0,
                (polled->requests / polled->seconds) / (device.requests / device.seconds));
        }
        std::printf("%-36s host pread %s\n", "", describe(host, options.block_size).c_str());
        return 0;
    } catch (Error const& error) {
        std::fprintf(stderr, "blk_bench: %s\n", error.what());
        return 1;
    }
}
