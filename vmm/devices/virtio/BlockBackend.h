#pragma once

#include "vmm/devices/virtio/Virtqueue.h"

#include <cstdint>
#include <sys/uio.h>
#include <vector>
#include <memory>
#include <string>

namespace vmm::virtio {

class BlockDevice;

// Moves `iovecs` from `first` on at `offset` with preadv/pwritev, resuming
// after short transfers, adding the system calls it made to `calls`. False
// with errno on failure.
bool transfer_synchronously(int fd, std::vector<iovec>& iovecs, size_t first, uint64_t offset, bool is_read, uint64_t& calls);

// How a BlockDevice moves its data when not with one preadv/pwritev per
// request on the I/O thread (the device's own path, which stays where the
// host has nothing better).
class BlockBackend {
public:
    virtual ~BlockBackend() = default;

    // Serves one pass over `queue` (the device's queue `index`) for `device`,
    // as BlockDevice::process_queue() does. A backend serves one queue.
    virtual QueueHealth process_queue(BlockDevice& device, uint16_t index, Virtqueue& queue) = 0;
};

// io_uring where the host allows it (a kernel with io_uring, no seccomp
// policy or sysctl that forbids it, vmm built with liburing); nullptr (the
// preadv path) otherwise, or when the environment has VMM_BLOCK_BACKEND=preadv
// (benchmarks compare the two). Says which and why under -v.
std::unique_ptr<BlockBackend> select_block_backend(int image_fd, std::string const& device_name);

}
