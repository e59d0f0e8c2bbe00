#include "vmm/devices/virtio/BlockBackend.h"

#include "common/Error.h"
#include "vmm/devices/virtio/BlockDevice.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <string_view>
#include <sys/uio.h>
#include <vector>

#ifdef VMM_HAVE_LIBURING
#    include <liburing.h>
#endif

namespace vmm::virtio {

namespace {

// Drops the first `bytes` of `iovecs` (from index `first` on).
void advance(std::vector<iovec>& iovecs, size_t& first, size_t bytes)
{
    while (first < iovecs.size() && bytes >= iovecs[first].iov_len)
        bytes -= iovecs[first++].iov_len;
    if (bytes > 0) {
        iovecs[first].iov_base = static_cast<uint8_t*>(iovecs[first].iov_base) + bytes;
        iovecs[first].iov_len -= bytes;
    }
}

}

// Moves `iovecs` from `first` on at `offset` with preadv/pwritev; also what is
// left after a short or failed io_uring completion. False with errno on failure.
bool transfer_synchronously(int fd, std::vector<iovec>& iovecs, size_t first, uint64_t offset, bool is_read, uint64_t& calls)
{
    while (first < iovecs.size()) {
        int const count = static_cast<int>(std::min<size_t>(iovecs.size() - first, IOV_MAX));
        ++calls;
        ssize_t const done = is_read ? ::preadv(fd, iovecs.data() + first, count, static_cast<off_t>(offset))
                                     : ::pwritev(fd, iovecs.data() + first, count, static_cast<off_t>(offset));
        if (done < 0 && errno == EINTR)
            continue;
        if (done == 0)
            errno = EIO; // The image shrank under us.
        if (done <= 0)
            return false;
        offset += static_cast<uint64_t>(done);
        advance(iovecs, first, static_cast<size_t>(done));
    }
    return true;
}

#ifdef VMM_HAVE_LIBURING

namespace {

// Requests in one batch: half a full virtqueue (queue_size_max), so a
// guest that fills its queue is served in two submissions.
constexpr unsigned ring_entries = 128;



}

// Reads and writes through one io_uring per queue: a pass pops every
// available request, submits the transfers together and waits for them in
// one io_uring_enter, so that the kernel runs them concurrently (reads that
// miss the page cache go to the disk side by side); the completions are
// then read from the shared ring without a system call each. A batch of one
// request goes with preadv/pwritev: one system call either way, and a
// file system that cannot start a write without blocking would make
// io_uring hand it to a worker thread. A pass is as
// synchronous as the preadv path: nothing is in flight between passes, so
// a device reset needs nothing from here.
class UringBlockBackend final : public BlockBackend {
public:
    // The ring, or nullptr with the reason in `failure`.
    static std::unique_ptr<UringBlockBackend> create(int image_fd, std::string& failure)
    {
        auto backend = std::make_unique<UringBlockBackend>(image_fd);
        if (int const result = io_uring_queue_init(ring_entries, &backend->m_ring, 0); result < 0) {
            failure = describe_system_error("io_uring_setup", fmt::format("{} entries", ring_entries), -result);
            return nullptr;
        }
        // The image is not registered with the ring (IORING_REGISTER_FILES):
        // the ring's reference would outlive the device, since the kernel
        // tears a ring down asynchronously, and keep the image's lock held.
        backend->m_ring_ready = true;
        return backend;
    }

    explicit UringBlockBackend(int image_fd)
        : m_image_fd(image_fd)
        , m_requests(ring_entries)
    {
    }
    UringBlockBackend(UringBlockBackend const&) = delete;
    UringBlockBackend& operator=(UringBlockBackend const&) = delete;
    ~UringBlockBackend() override
    {
        if (m_ring_ready)
            io_uring_queue_exit(&m_ring);
    }

    QueueHealth process_queue(BlockDevice& device, uint16_t index, Virtqueue& queue) override;

private:
    struct Request {
        DescriptorChain chain;
        uint8_t* status { nullptr };
        uint64_t sector { 0 };
        uint64_t length { 0 };
        bool is_read { true };
        std::vector<iovec> iovecs;
    };

    void prepare(Request& request, size_t index);
    void submit_and_complete(BlockDevice& device, Virtqueue& queue, size_t count);
    void finish(BlockDevice& device, Virtqueue& queue, Request& request, int result);

    int m_image_fd;
    io_uring m_ring {};
    bool m_ring_ready { false };
    std::vector<Request> m_requests;
};

QueueHealth UringBlockBackend::process_queue(BlockDevice& device, uint16_t index, Virtqueue& queue)
{
    auto& state = device.m_queues.at(index);
    uint64_t budget = BlockDevice::pass_budget;
    do {
        for (;;) {
            size_t count = 0;
            uint64_t batch_bytes = 0;
            bool broken = false;
            while (count < m_requests.size() && batch_bytes < budget) {
                auto& request = m_requests[count];
                auto const result = queue.pop(request.chain);
                if (result == PopResult::Empty)
                    break;
                if (result == PopResult::BrokenQueue) {
                    broken = true;
                    break;
                }
                if (result == PopResult::InvalidChain) {
                    device.m_log.debug("{}: {}", device.m_name, queue.last_error());
                    queue.push_used(request.chain.head, 0);
                    continue;
                }
                // The device checks the request and serves what moves no data.
                if (auto const used = device.begin_request(state, request.chain)) {
                    queue.push_used(request.chain.head, *used);
                    continue;
                }
                // A read or write that passed the checks: its buffers are in state.iovecs.
                auto const& transfer = *state.transfer;
                request.status = transfer.status;
                request.sector = transfer.header.sector;
                request.length = transfer.length;
                request.is_read = transfer.header.type == BlockDevice::In;
                request.iovecs.assign(state.iovecs.begin(), state.iovecs.end());
                state.transfer.reset();
                batch_bytes += request.length;
                ++count;
            }
            if (count == 1)
                finish(device, queue, m_requests[0], 0); // One request: preadv, one system call either way, no io_uring set-up.
            else if (count > 1)
                submit_and_complete(device, queue, count);
            if (broken)
                return QueueHealth::Broken;
            if (count == 0)
                break;
            budget -= std::min(budget, batch_bytes);
            if (budget == 0)
                return QueueHealth::MoreWork;
        }
    } while (queue.publish_available_event());
    return QueueHealth::Healthy;
}

void UringBlockBackend::prepare(Request& request, size_t index)
{
    // Never null: a batch has at most ring_entries requests and the last one was reaped whole.
    io_uring_sqe* sqe = io_uring_get_sqe(&m_ring);
    auto const pieces = static_cast<unsigned>(request.iovecs.size());
    uint64_t const offset = request.sector * BlockDevice::sector_size;
    if (request.is_read)
        io_uring_prep_readv(sqe, m_image_fd, request.iovecs.data(), pieces, offset);
    else
        io_uring_prep_writev(sqe, m_image_fd, request.iovecs.data(), pieces, offset);
    io_uring_sqe_set_data64(sqe, index);
}

void UringBlockBackend::submit_and_complete(BlockDevice& device, Virtqueue& queue, size_t count)
{
    // One system call submits the batch and waits for all of it. The
    // entries stay in the submission ring until the kernel takes them, so a
    // failed call is retried rather than served another way (which would
    // run them twice).
    for (size_t index = 0; index < count; ++index)
        prepare(m_requests[index], index);
    auto const wanted = static_cast<unsigned>(count);
    for (int attempt = 0;; ++attempt) {
        BlockDevice::count(device.m_counters.system_calls);
        int const result = io_uring_submit_and_wait(&m_ring, wanted);
        if (result >= 0)
            break;
        if (result == -EINTR || (result == -EAGAIN && attempt < 100))
            continue;
        throw Error(describe_system_error("io_uring_enter", device.m_name, -result));
    }
    size_t reaped = 0;
    while (reaped < count) {
        io_uring_cqe* cqe = nullptr;
        // All of them are there after the wait above: this reads the ring.
        if (int const result = io_uring_wait_cqe_nr(&m_ring, &cqe, 1); result < 0) {
            if (result == -EINTR)
                continue;
            throw Error(describe_system_error("io_uring_enter", device.m_name, -result));
        }
        unsigned head = 0;
        unsigned seen = 0;
        io_uring_for_each_cqe(&m_ring, head, cqe)
        {
            finish(device, queue, m_requests[io_uring_cqe_get_data64(cqe)], cqe->res);
            ++seen;
        }
        io_uring_cq_advance(&m_ring, seen);
        reaped += seen;
    }
}

void UringBlockBackend::finish(BlockDevice& device, Virtqueue& queue, Request& request, int result)
{
    uint64_t const offset = request.sector * BlockDevice::sector_size;
    bool done = result >= 0 && static_cast<uint64_t>(result) == request.length;
    if (!done) {
        // A request served alone, a short transfer, or an error the kernel
        // reported through the ring: the rest goes the synchronous way,
        // which names the error.
        size_t first = 0;
        uint64_t const moved = result > 0 ? static_cast<uint64_t>(result) : 0;
        advance(request.iovecs, first, static_cast<size_t>(moved));
        uint64_t calls = 0;
        done = transfer_synchronously(m_image_fd, request.iovecs, first, offset + moved, request.is_read, calls);
        BlockDevice::count(device.m_counters.system_calls, calls);
        if (!done)
            device.m_log.warn("{}: {} at sector {} failed: {}", device.m_name, request.is_read ? "read" : "write", request.sector,
                std::strerror(errno));
    }
    if (!request.is_read)
        device.note_write_completed();
    *request.status = done ? BlockDevice::Ok : BlockDevice::IoError;
    // BlockDevice::check_transfer() kept the length under 2^32 - 1.
    uint32_t const written = request.is_read && done ? static_cast<uint32_t>(request.length) : 0;
    queue.push_used(request.chain.head, written + 1);
}

#endif

std::unique_ptr<BlockBackend> select_block_backend(int image_fd, std::string const& device_name)
{
    if (char const* choice = std::getenv("VMM_BLOCK_BACKEND"); choice && std::string_view(choice) == "preadv") {
        spdlog::debug("{}: preadv/pwritev on the I/O thread (VMM_BLOCK_BACKEND=preadv)", device_name);
        return nullptr;
    }
#ifdef VMM_HAVE_LIBURING
    std::string failure;
    if (auto backend = UringBlockBackend::create(image_fd, failure)) {
        spdlog::debug("{}: io_uring, up to {} requests submitted and reaped per system call", device_name, ring_entries);
        return backend;
    }
    spdlog::debug("{}: preadv/pwritev on the I/O thread: io_uring is unavailable ({})", device_name, failure);
#else
    (void)image_fd;
    spdlog::debug("{}: preadv/pwritev on the I/O thread: vmm was built without liburing", device_name);
#endif
    return nullptr;
}

}
