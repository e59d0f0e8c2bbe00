#pragma once

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
};

}
