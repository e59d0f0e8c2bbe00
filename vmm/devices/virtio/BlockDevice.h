#pragma once

#include "common/FileDescriptor.h"
#include "vmm/devices/RateLimitedLog.h"
#include "vmm/devices/virtio/BlockBackend.h"
#include "vmm/devices/virtio/VirtioDevice.h"

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <sys/uio.h>
#include <vector>

namespace vmm::virtio {

enum class BlockAccess {
    ReadWrite,
    ReadOnly,
};

// virtio-blk (virtio-v1.1 section 5.2) over a raw image: reads and writes go
// with preadv/pwritev (or a backend's io_uring) straight between the image
// and guest memory, on the I/O thread. With more than one queue it offers
// VIRTIO_BLK_F_MQ and num_queues; each queue has its own state (the request
// in progress, its buffers, its backend and io_uring), so passes over
// different queues never share anything but the image. The limits it
// advertises (SEG_MAX data segments of at most SIZE_MAX bytes) are
// enforced: a request beyond them gets IOERR.
// A pass over the queue moves at most pass_budget bytes and leaves the rest
// of a long transfer for the next pass (QueueHealth::MoreWork), so that the
// I/O thread serves other devices and signals in between.
class BlockDevice final : public VirtioDevice {
public:
    static constexpr uint32_t sector_size = 512;
    static constexpr uint32_t segment_max = 128;
    static constexpr uint32_t segment_size_max = 1024 * 1024;
    static constexpr size_t serial_size = 20;
    static constexpr uint64_t pass_budget = 8 * 1024 * 1024;
    // More queues than this give a guest no more parallelism than the host's I/O path has.
    static constexpr uint16_t max_queue_count = 8;

    // Request types and status values (section 5.2.6).
    enum RequestType : uint32_t {
        In = 0,
        Out = 1,
        Flush = 4,
        GetId = 8,
    };
    enum RequestStatus : uint8_t {
        Ok = 0,
        IoError = 1,
        Unsupported = 2,
    };
    struct RequestHeader {
        uint32_t type;
        uint32_t reserved;
        uint64_t sector;
    };

    // Opens and locks the image at `path` (exclusively when writable, shared when read-only).
    static std::shared_ptr<BlockDevice> open(std::string const& path, BlockAccess access, uint16_t queue_count = 1);
    // A device over an already open image of `size` bytes (tests, the
    // fuzzer) with `queue_count` queues (1 to max_queue_count).
    BlockDevice(FileDescriptor image, uint64_t size, BlockAccess access, std::string serial, std::string name, uint16_t queue_count = 1);

    std::string name() const override { return m_name; }
    DeviceType type() const override { return DeviceType::Block; }
    uint64_t features() const override;
    uint16_t queue_count() const override { return static_cast<uint16_t>(m_queues.size()); }
    std::span<uint8_t const> configuration() const override { return m_configuration; }
    QueueHealth process_queue(uint16_t index, Virtqueue& queue) override;
    void reset() override;
    // Moves the data of queue `index`'s later passes through `backend`
    // (io_uring, see select_block_backend()); nullptr keeps preadv.
    void set_backend(uint16_t index, std::unique_ptr<BlockBackend> backend) { m_queues.at(index).backend = std::move(backend); }
    // Gives every queue the best backend the host allows (select_block_backend()), each its own.
    void select_backends();
    int image_fd() const { return m_image.get(); }

    uint64_t capacity() const { return m_capacity; }

    // What the device served since it was made, over all queues (for -v at
    // exit, benchmarks and tests): requests by type, their bytes, and the
    // host system calls that moved the data and flushed the image. `Value`
    // is uint64_t for a reading and a relaxed atomic for the device's own
    // (queues count from their own threads).
    template<typename Value>
    struct CounterSet {
        Value reads { 0 };
        Value read_bytes { 0 };
        Value writes { 0 };
        Value write_bytes { 0 };
        Value flushes { 0 };
        Value clean_flushes { 0 };     // Of those, flushes with no write completed since the last fdatasync: none was needed.
        Value flush_nanoseconds { 0 }; // Spent in the host's fdatasync.
        Value other_requests { 0 };    // GET_ID, unsupported types, transfers that failed their checks.
        Value system_calls { 0 };      // preadv, pwritev, io_uring_enter and fdatasync.
    };
    using Counters = CounterSet<uint64_t>;
    Counters counters() const;
    std::string statistics() const override;
    // Serves one request to the end and writes its status byte; returns the
    // bytes written into the chain's writable buffers (0 for a chain too
    // short to hold a header and a status byte).
    uint32_t handle_request(DescriptorChain const& chain);

private:
    friend class UringBlockBackend; // Checks requests with begin_request() and moves their data itself.

    static void count(std::atomic<uint64_t>& counter, uint64_t amount = 1) { counter.fetch_add(amount, std::memory_order_relaxed); }

    // A read or write under way, resumed by the next pass.
    struct Transfer {
        RequestHeader header;
        uint8_t* status { nullptr };
        uint64_t length { 0 }; // Data bytes to move.
        uint64_t done { 0 };
    };

    // What one queue's passes keep: touched only by passes over that queue (and reset()).
    struct QueueState {
        DescriptorChain chain;
        std::optional<Transfer> transfer; // Of chain.
        std::vector<iovec> iovecs;
        std::unique_ptr<BlockBackend> backend;
    };

    // Serves what needs no transfer and returns the used length; or starts
    // a transfer in state.transfer and returns nothing.
    std::optional<uint32_t> begin_request(QueueState& state, DescriptorChain const& chain);
    // Moves up to `budget` bytes of state.transfer; returns the used length once it is complete.
    std::optional<uint32_t> continue_transfer(QueueState& state, DescriptorChain const& chain, uint64_t& budget);
    RequestStatus check_transfer(QueueState& state, DescriptorChain const& chain, RequestHeader const& header, uint64_t length);
    RequestStatus get_id(QueueState& state, DescriptorChain const& chain, uint64_t length);
    // A write ended (moved or failed) on some queue: the next flush must reach the image.
    void note_write_completed() { m_unflushed_writes.store(true); }
    // VIRTIO_BLK_T_FLUSH: makes every write completed before it durable, with
    // one fdatasync of the image, or none when no write completed since the last.
    RequestStatus flush();

    FileDescriptor m_image;
    uint64_t m_capacity { 0 }; // In sectors.
    BlockAccess m_access;
    std::string m_serial;
    std::string m_name;
    std::array<uint8_t, 60> m_configuration {};
    std::vector<QueueState> m_queues;
    QueueState m_direct; // handle_request()'s, outside any queue.
    RateLimitedLog m_log;
    CounterSet<std::atomic<uint64_t>> m_counters;
    // Set when a write completes, cleared by the flush that syncs it.
    // Starts set: the image may hold pages written before vmm opened it.
    std::atomic<bool> m_unflushed_writes { true };
};

}
