// blk_bench IMAGE seq|rand BLOCK_SIZE QUEUE_DEPTH SECONDS [POLL_US [QUEUES [one|per-queue]]]
//
// Measures virtio-blk's device path on this host: a driver thread builds
// request chains (header, data, status) in guest memory, signals the queue's
// notification eventfd as KVM's ioeventfd would, and waits on the interrupt
// eventfd that KVM's irqfd would consume; the device serves the queue on an
// I/O thread (EventLoop), exactly as in a VM. No guest runs: there are no
// VM exits or guest interrupt handling in these figures. Then the same read
// pattern with pread() on the host, for comparison.
//
// With QUEUES > 1 the device has that many queues (VIRTIO_BLK_F_MQ), each
// driven by its own thread with QUEUE_DEPTH requests in flight (fio's
// numjobs=QUEUES iodepth=QUEUE_DEPTH), the one interrupt line waking every
// driver thread as a guest's handler looks at every queue; the queues are
// served by one I/O thread watching all their eventfds (one, vmm's way) or
// by a thread per queue (per-queue). The host's reads then run from QUEUES
// threads too, next to one thread's.
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
#include <algorithm>
#include <fcntl.h>
#include <sys/eventfd.h>
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

enum class Service {
    OneThread, // One I/O thread's epoll over every queue's eventfd, as in vmm.
    PerQueue,  // One I/O thread per queue.
};

struct Options {
    std::string image;
    Pattern pattern { Pattern::Sequential };
    uint32_t block_size { 128 * 1024 };
    uint32_t queue_depth { 32 };
    double seconds { 3 };
    std::chrono::microseconds poll { 0 }; // MmioTransport::set_polling(), as vmm boot --blk-poll-us sets it.
    uint16_t queues { 1 };
    Service service { Service::OneThread };
};

struct Figures {
    uint64_t requests { 0 };
    double seconds { 0 };
    uint64_t interrupts { 0 };
    Figures& operator+=(Figures const& other)
    {
        requests += other.requests;
        seconds = std::max(seconds, other.seconds);
        interrupts += other.interrupts;
        return *this;
    }
};

// The device's one interrupt line, reaching every driver thread: a guest's
// interrupt handler looks at every queue's used ring.
class BroadcastInterrupt final : public InterruptLine {
public:
    explicit BroadcastInterrupt(uint16_t count)
    {
        for (uint16_t index = 0; index < count; ++index) {
            m_events.emplace_back(eventfd(0, EFD_CLOEXEC));
            if (!m_events.back().is_valid())
                throw_system_error("eventfd", "interrupt");
        }
    }
    int fd(uint16_t index) const { return m_events[index].get(); }
    void trigger() override
    {
        uint64_t const one = 1;
        for (auto const& event : m_events)
            [[maybe_unused]] auto written = ::write(event.get(), &one, sizeof(one));
    }

private:
    std::vector<FileDescriptor> m_events;
};

// The block (in units of block_size) the n-th request reads.
class Offsets {
public:
    Offsets(Pattern pattern, uint64_t blocks, uint64_t stream = 0)
        : m_pattern(pattern)
        , m_blocks(blocks)
        , m_next(stream * blocks / 8)
        , m_state(0x9e3779b97f4a7c15ull + stream * 0x2545f4914f6cdd1dull)
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
    uint64_t m_next;
    uint64_t m_state;
};

bool need_event(uint16_t event, uint16_t new_index, uint16_t old_index)
{
    return static_cast<uint16_t>(new_index - event - 1) < static_cast<uint16_t>(new_index - old_index);
}

// Where queue `index` keeps its rings, headers, statuses and data in guest memory.
struct QueueLayout {
    static constexpr uint16_t queue_size = 256;
    GuestAddress rings;
    GuestAddress headers;
    GuestAddress statuses;
    GuestAddress data;

    QueueLayout(uint16_t index, Options const& options)
        : rings(0x10000 + index * 0x10000ull)
        , headers(0x100000 + index * 0x1000ull)
        , statuses(0x110000 + index * 0x100ull)
        , data(0x200000 + uint64_t(index) * options.queue_depth * options.block_size)
    {
    }
};

// One driver thread's work: keeps options.queue_depth reads in flight on its queue until the deadline.
Figures drive_queue(GuestMemory const& memory, QueueDriver& driver, QueueLayout const& layout, MmioTransport& transport, uint16_t index,
    int interrupt_fd, Options const& options, uint64_t blocks, Clock::time_point deadline)
{
    Offsets offsets(options.pattern, blocks, index);
    auto submit = [&](uint16_t slot) {
        uint64_t const sector = offsets.next() * options.block_size / BlockDevice::sector_size;
        memory.write_object(layout.headers + 16 * slot, BlockDevice::RequestHeader { BlockDevice::In, 0, sector });
        uint16_t const first = slot * 3;
        driver.set_descriptor(first, layout.headers + 16 * slot, 16, descriptor_flag::next, first + 1);
        driver.set_descriptor(first + 1, layout.data + uint64_t(slot) * options.block_size, options.block_size, descriptor_flag::next | descriptor_flag::write, first + 2);
        driver.set_descriptor(first + 2, layout.statuses + slot, 1, descriptor_flag::write);
        driver.make_available(first);
    };
    uint16_t notified_at = driver.next_available();
    auto notify = [&] {
        // Notify only if the device asked (its available event), as Linux's virtqueue_kick_prepare() does.
        uint16_t const now = driver.next_available();
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (need_event(driver.available_event(), now, notified_at)) {
            uint64_t const one = 1;
            // What KVM's ioeventfd with datamatch `index` does with the driver's QueueNotify write.
            if (::write(transport.notify_fd(index), &one, sizeof(one)) != sizeof(one))
                throw_system_error("write", "queue notification");
        }
        notified_at = now;
    };

    Figures figures;
    auto const start = Clock::now();
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
            if (memory.read_object<uint8_t>(layout.statuses + slot) != BlockDevice::Ok)
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
    return figures;
}

Figures run_device(Options const& options)
{
    if (options.queue_depth == 0 || options.queue_depth * 3 > QueueLayout::queue_size)
        throw Error(fmt::format("queue depth must be 1 to {}", QueueLayout::queue_size / 3));
    auto memory = GuestMemory::create_flat(QueueLayout(options.queues, options).data);

    auto device = BlockDevice::open(options.image, BlockAccess::ReadOnly, options.queues);
    device->select_backends(); // As vmm's device factory does.
    uint64_t const blocks = device->capacity() * BlockDevice::sector_size / options.block_size;
    if (blocks == 0)
        throw Error("the image is smaller than one block");
    auto interrupt = std::make_unique<BroadcastInterrupt>(options.queues);
    auto& interrupts = *interrupt;
    auto transport = std::make_shared<MmioTransport>(memory, device, std::move(interrupt));
    transport->set_polling(options.poll);

    std::vector<QueueDriver> drivers;
    std::vector<QueueLayout> layouts;
    std::vector<QueueDriver const*> queues;
    drivers.reserve(options.queues);
    for (uint16_t index = 0; index < options.queues; ++index) {
        layouts.emplace_back(index, options);
        drivers.emplace_back(memory, layouts.back().rings, QueueLayout::queue_size);
    }
    for (auto const& driver : drivers)
        queues.push_back(&driver);
    uint64_t const multiqueue = options.queues > 1 ? 1ull << 12 : 0;
    if (initialise(*transport, feature::version_1 | feature::ring_event_index | multiqueue, queues) != 15)
        throw Error("the device refused the driver");

    std::vector<std::unique_ptr<EventLoop>> loops(options.service == Service::PerQueue ? options.queues : 1);
    for (auto& loop : loops)
        loop = std::make_unique<EventLoop>();
    for (uint16_t index = 0; index < options.queues; ++index)
        loops[index % loops.size()]->add(transport->notify_fd(index), [&transport, index](uint32_t) { transport->handle_notify_event(index); });
    std::vector<std::thread> io_threads;
    for (auto& loop : loops)
        io_threads.emplace_back([&loop] { loop->run(); });

    auto const deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
    std::vector<Figures> each(options.queues);
    std::vector<std::string> failures(options.queues);
    std::vector<std::thread> drivers_threads;
    for (uint16_t index = 0; index < options.queues; ++index) {
        drivers_threads.emplace_back([&, index] {
            try {
                each[index] = drive_queue(memory, drivers[index], layouts[index], *transport, index, interrupts.fd(index), options, blocks, deadline);
            } catch (Error const& error) {
                failures[index] = error.what();
            }
        });
    }
    for (auto& thread : drivers_threads)
        thread.join();
    for (auto& loop : loops)
        loop->stop();
    for (auto& thread : io_threads)
        thread.join();
    Figures figures;
    for (uint16_t index = 0; index < options.queues; ++index) {
        if (!failures[index].empty())
            throw Error(fmt::format("queue {}: {}", index, failures[index]));
        figures += each[index];
    }
    return figures;
}

// The same reads with pread() from `threads` threads, each with its own offsets and buffers.
Figures run_host(Options const& options, uint16_t threads)
{
    auto image = FileDescriptor::open(options.image, O_RDONLY);
    off_t const size = lseek(image.get(), 0, SEEK_END);
    uint64_t const blocks = static_cast<uint64_t>(size) / options.block_size;
    auto const deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
    auto read_stream = [&](uint16_t stream, Figures& figures) {
        // The same kind of memory as the guest's, one slot per request in flight as in the device run.
        auto buffers = MappedRegion::anonymous(uint64_t(options.queue_depth) * options.block_size);
        uint32_t slot = 0;
        Offsets offsets(options.pattern, blocks, stream);
        auto const start = Clock::now();
        while (Clock::now() < deadline) {
            for (int batch = 0; batch < 64; ++batch) {
                uint8_t* buffer = buffers.data() + uint64_t(slot++ % options.queue_depth) * options.block_size;
                if (pread(image.get(), buffer, options.block_size, static_cast<off_t>(offsets.next() * options.block_size)) != static_cast<ssize_t>(options.block_size))
                    return false;
                ++figures.requests;
            }
        }
        figures.seconds = std::chrono::duration<double>(Clock::now() - start).count();
        return true;
    };
    std::vector<Figures> each(threads);
    std::vector<char> succeeded(threads, 0);
    std::vector<std::thread> workers;
    for (uint16_t stream = 0; stream < threads; ++stream)
        workers.emplace_back([&, stream] { succeeded[stream] = read_stream(stream, each[stream]); });
    Figures figures;
    for (uint16_t stream = 0; stream < threads; ++stream) {
        workers[stream].join();
        figures += each[stream];
    }
    if (std::ranges::count(succeeded, 0) > 0)
        throw Error(fmt::format("pread {} failed or came back short", options.image));
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
    if (argc < 6 || argc > 9) {
        std::fprintf(stderr, "usage: blk_bench IMAGE seq|rand BLOCK_SIZE QUEUE_DEPTH SECONDS [POLL_US [QUEUES [one|per-queue]]]\n");
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
        uint64_t const poll_us = argc >= 7 ? std::strtoull(argv[6], nullptr, 0) : 0;
        unsigned long const queues = argc >= 8 ? std::strtoul(argv[7], nullptr, 0) : 1;
        if (queues == 0 || queues > BlockDevice::max_queue_count)
            throw Error(fmt::format("QUEUES must be 1 to {}", BlockDevice::max_queue_count));
        options.queues = static_cast<uint16_t>(queues);
        std::string const service = argc >= 9 ? argv[8] : "one";
        if (service != "one" && service != "per-queue")
            throw Error("the service must be 'one' (one I/O thread) or 'per-queue' (a thread per queue)");
        options.service = service == "one" ? Service::OneThread : Service::PerQueue;
        if (options.service == Service::PerQueue && poll_us > 0)
            throw Error("polling is for one I/O thread: POLL_US must be 0 with per-queue");
        auto const device = run_device(options);
        // With POLL_US, the same run again with polling, next to the run without it and to the host's reads.
        std::optional<Figures> polled;
        if (poll_us > 0) {
            Options polling = options;
            polling.poll = std::chrono::microseconds(poll_us);
            polled = run_device(polling);
        }
        auto const host = run_host(options, 1);
        auto const host_rate = host.requests / host.seconds;
        std::optional<Figures> host_threads;
        if (options.queues > 1)
            host_threads = run_host(options, options.queues);
        std::string label = fmt::format("{} {} KiB reads, queue depth {}", argv[2], options.block_size / 1024, options.queue_depth);
        if (options.queues > 1)
            label += fmt::format(" x {} queues", options.queues);
        // Each interrupt reached every driver thread.
        auto per_interrupt = [&](Figures const& figures) { return figures.interrupts ? double(figures.requests) * options.queues / figures.interrupts : 0.0; };
        std::string const served = options.queues > 1 ? (options.service == Service::OneThread ? ", one I/O thread" : ", a thread per queue") : "";
        std::printf("%-36s virtio-blk %s  device/host %3.0f%%  (%.2f requests per interrupt%s)\n", label.c_str(), describe(device, options.block_size).c_str(),
            100.0 * (device.requests / device.seconds) / host_rate, per_interrupt(device), served.c_str());
        if (polled) {
            std::string const poll_label = fmt::format("  polling {} us", poll_us);
            std::printf("%-36s virtio-blk %s  device/host %3.0f%%  (%.2f requests per interrupt; %.2fx without polling)\n", poll_label.c_str(),
                describe(*polled, options.block_size).c_str(), 100.0 * (polled->requests / polled->seconds) / host_rate, per_interrupt(*polled),
                (polled->requests / polled->seconds) / (device.requests / device.seconds));
        }
        std::printf("%-36s host pread %s\n", "", describe(host, options.block_size).c_str());
        if (host_threads) {
            std::printf("%-36s host pread %s  (%u threads; device/these %3.0f%%)\n", "", describe(*host_threads, options.block_size).c_str(), options.queues,
                100.0 * (device.requests / device.seconds) / (host_threads->requests / host_threads->seconds));
        }
        return 0;
    } catch (Error const& error) {
        std::fprintf(stderr, "blk_bench: %s\n", error.what());
        return 1;
    }
}
