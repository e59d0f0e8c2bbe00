#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace vmm {

// A disk as the user gives it (--disk PATH[,ro]); virtio-blk serves it.
enum class DiskAccess {
    ReadWrite,
    ReadOnly,
};

struct DiskOptions {
    std::string path;
    DiskAccess access { DiskAccess::ReadWrite };
    // How long the I/O thread keeps polling the queue after a request (vmm boot --blk-poll-us); 0: never.
    std::chrono::microseconds poll { 0 };
    // Its virtqueues (vmm boot --blk-queues); 0: one per vCPU, at most BlockDevice::max_queue_count.
    uint16_t queues { 0 };
};

}
