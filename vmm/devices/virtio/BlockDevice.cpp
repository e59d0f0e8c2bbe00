#include "vmm/devices/virtio/BlockDevice.h"

#include "common/Error.h"
#include "common/ImageLock.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm::virtio {

namespace {

// Feature bits of virtio-blk (section 5.2.3).
namespace blk_feature {
constexpr uint64_t size_max = 1ull << 1;
constexpr uint64_t seg_max = 1ull << 2;
constexpr uint64_t read_only = 1ull << 5;
constexpr uint64_t block_size = 1ull << 6;
constexpr uint64_t flush = 1ull << 9;
constexpr uint64_t multiqueue = 1ull << 12;
}

// Offsets in struct virtio_blk_config.
namespace config {
constexpr size_t capacity = 0;
constexpr size_t size_max = 8;
constexpr size_t seg_max = 12;
constexpr size_t block_size = 20;
constexpr size_t num_queues = 34;
}

template<typename T>
void put(std::span<uint8_t> bytes, size_t offset, T value)
{
    std::memcpy(bytes.data() + offset, &value, sizeof(value));
}

// Appends to `iovecs` the bytes [offset, offset + length) of the concatenated `buffers`.
void collect(std::vector<iovec>& iovecs, std::vector<std::span<uint8_t>> const& buffers, uint64_t offset, uint64_t length)
{
    iovecs.clear();
    for (auto buffer : buffers) {
        if (length == 0)
            break;
        if (offset >= buffer.size()) {
            offset -= buffer.size();
            continue;
        }
        uint64_t const piece = std::min<uint64_t>(buffer.size() - offset, length);
        iovecs.push_back({ buffer.data() + offset, piece });
        offset = 0;
        length -= piece;
    }
}

// The last byte of the writable buffers: where the status goes.
uint8_t* status_byte(DescriptorChain const& chain)
{
    for (auto it = chain.writable.rbegin(); it != chain.writable.rend(); ++it) {
        if (!it->empty())
            return &it->back();
    }
    return nullptr;
}

}

std::shared_ptr<BlockDevice> BlockDevice::open(std::string const& path, BlockAccess access, uint16_t queue_count)
{
    auto image = open_disk_image(path, access == BlockAccess::ReadOnly ? O_RDONLY : O_RDWR);
    lock_image(image.get(), path, access == BlockAccess::ReadOnly ? ImageLockKind::Shared : ImageLockKind::Exclusive);
    struct stat status {};
    if (fstat(image.get(), &status) != 0)
        throw_system_error("fstat", path);
    off_t const size = lseek(image.get(), 0, SEEK_END);
    if (size < 0)
        throw_system_error("lseek", path);
    if (size < sector_size)
        throw Error(fmt::format("disk image {} is smaller than one sector ({} bytes)", path, size));
    // A serial that names the file, as Firecracker's does: device and inode numbers.
    auto serial = fmt::format("{:x}-{:x}", status.st_dev, status.st_ino).substr(0, serial_size);
    return std::make_shared<BlockDevice>(std::move(image), static_cast<uint64_t>(size), access, std::move(serial), "blk " + path, queue_count);
}

BlockDevice::BlockDevice(FileDescriptor image, uint64_t size, BlockAccess access, std::string serial, std::string name, uint16_t queue_count)
    : m_image(std::move(image))
    , m_capacity(size / sector_size)
    , m_access(access)
    , m_serial(std::move(serial))
    , m_name(std::move(name))
    , m_queues(queue_count)
{
    if (queue_count == 0 || queue_count > max_queue_count)
        throw Error(fmt::format("{}: {} queues; a virtio-blk device has 1 to {}", m_name, queue_count, max_queue_count));
    put<uint64_t>(m_configuration, config::capacity, m_capacity);
    put<uint32_t>(m_configuration, config::size_max, segment_size_max);
    put<uint32_t>(m_configuration, config::seg_max, segment_max);
    put<uint32_t>(m_configuration, config::block_size, sector_size);
    put<uint16_t>(m_configuration, config::num_queues, queue_count);
    for (auto& state : m_queues)
        state.iovecs.reserve(segment_max + 2);
    m_direct.iovecs.reserve(segment_max + 2);
}

void BlockDevice::reset()
{
    for (auto& state : m_queues)
        state.transfer.reset();
}

void BlockDevice::select_backends()
{
    for (uint16_t index = 0; index < m_queues.size(); ++index)
        m_queues[index].backend = select_block_backend(m_image.get(), m_queues.size() == 1 ? m_name : fmt::format("{} queue {}", m_name, index));
}

BlockDevice::Counters BlockDevice::counters() const
{
    auto load = [](std::atomic<uint64_t> const& counter) { return counter.load(std::memory_order_relaxed); };
    return {
        .reads = load(m_counters.reads),
        .read_bytes = load(m_counters.read_bytes),
        .writes = load(m_counters.writes),
        .write_bytes = load(m_counters.write_bytes),
        .flushes = load(m_counters.flushes),
        .clean_flushes = load(m_counters.clean_flushes),
        .flush_nanoseconds = load(m_counters.flush_nanoseconds),
        .other_requests = load(m_counters.other_requests),
        .system_calls = load(m_counters.system_calls),
    };
}

std::string BlockDevice::statistics() const
{
    auto const counted = counters();
    auto kibibytes = [](uint64_t bytes) { return static_cast<double>(bytes) / 1024; };
    return fmt::format("{} reads ({:.0f} KiB), {} writes ({:.0f} KiB), {} flushes ({} with nothing to sync, {:.3f} ms in fdatasync), "
                       "{} other requests, {} host system calls",
        counted.reads, kibibytes(counted.read_bytes), counted.writes, kibibytes(counted.write_bytes), counted.flushes,
        counted.clean_flushes, static_cast<double>(counted.flush_nanoseconds) / 1e6, counted.other_requests, counted.system_calls);
}

uint64_t BlockDevice::features() const
{
    uint64_t features = feature::ring_event_index | feature::ring_indirect_descriptors
        | blk_feature::size_max | blk_feature::seg_max | blk_feature::block_size | blk_feature::flush;
    if (m_access == BlockAccess::ReadOnly)
        features |= blk_feature::read_only;
    if (m_queues.size() > 1)
        features |= blk_feature::multiqueue;
    return features;
}

QueueHealth BlockDevice::process_queue(uint16_t index, Virtqueue& queue)
{
    auto& state = m_queues.at(index);
    if (state.backend)
        return state.backend->process_queue(*this, index, queue);
    uint64_t budget = pass_budget;
    do {
        for (;;) {
            std::optional<uint32_t> used;
            if (!state.transfer) {
                auto const result = queue.pop(state.chain);
                if (result == PopResult::Empty)
                    break;
                if (result == PopResult::BrokenQueue)
                    return QueueHealth::Broken;
                if (result == PopResult::InvalidChain) {
                    m_log.debug("{}: {}", m_name, queue.last_error());
                    queue.push_used(state.chain.head, 0);
                    continue;
                }
                used = begin_request(state, state.chain);
            }
            if (!used)
                used = continue_transfer(state, state.chain, budget);
            if (!used)
                return QueueHealth::MoreWork; // state.transfer resumes next pass.
            queue.push_used(state.chain.head, *used);
        }
    } while (queue.publish_available_event());
    return QueueHealth::Healthy;
}

uint32_t BlockDevice::handle_request(DescriptorChain const& chain)
{
    if (auto const used = begin_request(m_direct, chain))
        return *used;
    for (;;) {
        uint64_t budget = pass_budget;
        if (auto const used = continue_transfer(m_direct, chain, budget))
            return *used;
    }
}

std::optional<uint32_t> BlockDevice::begin_request(QueueState& state, DescriptorChain const& chain)
{
    uint8_t* status = status_byte(chain);
    if (chain.readable_length < sizeof(RequestHeader) || !status) {
        m_log.debug("{}: request without a header or a status byte", m_name);
        return 0;
    }
    RequestHeader header {};
    gather(chain.readable, { reinterpret_cast<uint8_t*>(&header), sizeof(header) });
    uint64_t const writable_data = chain.writable_length - 1;
    uint64_t const readable_data = chain.readable_length - sizeof(RequestHeader);

    RequestStatus result = Unsupported;
    uint32_t written = 0;
    switch (header.type) {
    case In:
    case Out: {
        uint64_t const length = header.type == In ? writable_data : readable_data;
        result = check_transfer(state, chain, header, length);
        if (result == Ok && length > 0) {
            count(header.type == In ? m_counters.reads : m_counters.writes);
            count(header.type == In ? m_counters.read_bytes : m_counters.write_bytes, length);
            state.transfer = Transfer { header, status, length, 0 };
            return std::nullopt;
        }
        count(m_counters.other_requests);
        break;
    }
    case Flush:
        result = flush();
        break;
    case GetId:
        count(m_counters.other_requests);
        result = get_id(state, chain, writable_data);
        written = result == Ok ? static_cast<uint32_t>(std::min<uint64_t>(writable_data, serial_size)) : 0;
        break;
    default:
        count(m_counters.other_requests);
        break;
    }
    *status = result;
    return written + 1;
}

BlockDevice::RequestStatus BlockDevice::flush()
{
    count(m_counters.flushes);
    // A write that completes after this exchange sets the flag again, so the
    // next flush covers it; one completed before it is in the fdatasync below.
    if (!m_unflushed_writes.exchange(false)) {
        count(m_counters.clean_flushes);
        return Ok;
    }
    auto const start = std::chrono::steady_clock::now();
    bool const synced = fdatasync(m_image.get()) == 0;
    count(m_counters.system_calls);
    count(m_counters.flush_nanoseconds,
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count()));
    if (synced)
        return Ok;
    m_log.warn("{}: flush failed: {}", m_name, std::strerror(errno));
    m_unflushed_writes.store(true); // The next flush tries again.
    return IoError;
}

BlockDevice::RequestStatus BlockDevice::check_transfer(QueueState& state, DescriptorChain const& chain, RequestHeader const& header, uint64_t length)
{
    bool const is_read = header.type == In;
    if (!is_read && m_access == BlockAccess::ReadOnly)
        return IoError;
    // The used length (the data and the status byte) is a 32-bit field.
    if (length >= UINT32_MAX) {
        m_log.debug("{}: request for {} bytes is over the 4 GiB a used element can report", m_name, length);
        return IoError;
    }
    if (is_read)
        collect(state.iovecs, chain.writable, 0, length);
    else
        collect(state.iovecs, chain.readable, sizeof(RequestHeader), length);
    if (state.iovecs.size() > segment_max) {
        m_log.debug("{}: request with {} data segments, over the SEG_MAX of {}", m_name, state.iovecs.size(), segment_max);
        return IoError;
    }
    for (auto const& piece : state.iovecs) {
        if (piece.iov_len > segment_size_max) {
            m_log.debug("{}: a data segment of {} bytes is over the SIZE_MAX of {}", m_name, piece.iov_len, segment_size_max);
            return IoError;
        }
    }
    if (length % sector_size != 0 || header.sector > m_capacity || length / sector_size > m_capacity - header.sector) {
        m_log.debug("{}: request for {} bytes at sector {} is past the capacity {}", m_name, length, header.sector, m_capacity);
        return IoError;
    }
    return Ok;
}

std::optional<uint32_t> BlockDevice::continue_transfer(QueueState& state, DescriptorChain const& chain, uint64_t& budget)
{
    auto& transfer = *state.transfer;
    bool const is_read = transfer.header.type == In;
    uint64_t const piece = std::min(transfer.length - transfer.done, budget);
    if (piece == 0)
        return std::nullopt;
    if (is_read)
        collect(state.iovecs, chain.writable, transfer.done, piece);
    else
        collect(state.iovecs, chain.readable, sizeof(RequestHeader) + transfer.done, piece);
    uint64_t const offset = transfer.header.sector * sector_size + transfer.done;
    RequestStatus result = Ok;
    uint64_t calls = 0;
    bool const moved = transfer_synchronously(m_image.get(), state.iovecs, 0, offset, is_read, calls);
    count(m_counters.system_calls, calls);
    if (!is_read)
        note_write_completed(); // Even a failed write may have changed part of the image.
    if (moved) {
        transfer.done += piece;
        budget -= piece;
        if (transfer.done < transfer.length)
            return std::nullopt;
    } else {
        m_log.warn("{}: {} at sector {} failed: {}", m_name, is_read ? "read" : "write", transfer.header.sector, std::strerror(errno));
        result = IoError;
    }
    *transfer.status = result;
    // check_transfer() kept the length under 2^32 - 1.
    uint32_t const written = is_read && result == Ok ? static_cast<uint32_t>(transfer.length) : 0;
    state.transfer.reset();
    return written + 1;
}

BlockDevice::RequestStatus BlockDevice::get_id(QueueState& state, DescriptorChain const& chain, uint64_t length)
{
    // The serial is NUL-padded to 20 bytes and not terminated when it fills them.
    std::array<uint8_t, serial_size> serial {};
    std::memcpy(serial.data(), m_serial.data(), std::min(m_serial.size(), serial.size()));
    collect(state.iovecs, chain.writable, 0, std::min<uint64_t>(length, serial_size));
    size_t copied = 0;
    for (auto const& piece : state.iovecs) {
        std::memcpy(piece.iov_base, serial.data() + copied, piece.iov_len);
        copied += piece.iov_len;
    }
    return Ok;
}

}
