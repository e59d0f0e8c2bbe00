#pragma once

#include "vmm/memory/GuestMemory.h"

#include <cstdint>
#include <string>

namespace vmm {

struct MemoryUsage {
    uint64_t resident_bytes { 0 };       // The whole process's RSS, shared library pages and huge pages included.
    uint64_t guest_resident_bytes { 0 }; // The part of it that is guest RAM the guest touched.
    // Pages only this process has written (Private_Dirty): clean file pages
    // (the binary, the libraries) are shared with every process that maps them.
    uint64_t private_dirty_bytes { 0 };
    uint64_t guest_private_dirty_bytes { 0 };
    // Pages with no file behind them (heap, stacks, written data, guest RAM).
    // Private_Dirty also counts the pages of the binary and the libraries
    // when they lie on a RAM file system (the nested host's initramfs): those
    // are the files' page cache, which every process mapping them shares.
    uint64_t anonymous_bytes { 0 };
    uint64_t guest_anonymous_bytes { 0 };
    // What vmm itself adds to the guest's pages, counting shared libraries in full.
    uint64_t overhead_bytes() const { return resident_bytes - guest_resident_bytes; }
    // What one more vmm process costs the host beyond its guest's pages.
    uint64_t private_overhead_bytes() const { return private_dirty_bytes - guest_private_dirty_bytes; }
    // What one more vmm process costs the host beyond its guest's pages on
    // any host, whatever file system its binary and libraries lie on.
    uint64_t anonymous_overhead_bytes() const { return anonymous_bytes - guest_anonymous_bytes; }
};

// Reads /proc/self/smaps: the process's resident memory and how much of it
// lies in `memory`'s mappings. What is left is what vmm itself costs.
MemoryUsage measure_memory_usage(GuestMemory const& memory);

// Sums the Rss of the mappings in `smaps` (the text of /proc/PID/smaps); the
// mappings that start inside one of `ranges` ([start, end) pairs) count as guest memory.
MemoryUsage parse_smaps(std::string const& smaps, std::vector<std::pair<uint64_t, uint64_t>> const& ranges);

}
