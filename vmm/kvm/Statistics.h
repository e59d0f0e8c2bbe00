#pragma once

#include "common/FileDescriptor.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace vmm::kvm {

// KVM's binary statistics of a VM or vCPU (KVM_GET_STATS_FD, Linux 5.14+):
// how many exits of each kind, page faults fixed, interrupts injected. The
// names and places are read once when the file is opened; values() then
// costs one pread of the data block (vmm reads them at exit, under its
// seccomp filter).
class StatisticsFile {
public:
    struct Counter {
        std::string name;
        uint64_t offset; // Of its value in the data block, in bytes.
    };

    // The statistics of the VM or vCPU behind `fd`, or nothing where the
    // kernel has no binary statistics (a debug message says so).
    static std::optional<StatisticsFile> open(int fd, std::string const& subject);

    // The cumulative counters (exits, pf_fixed, ...) of the file `bytes`
    // holds from its start up to its data block, and the data block's
    // offset; an Error naming `subject` when they do not fit in `bytes`.
    static std::pair<std::vector<Counter>, uint64_t> parse(std::span<uint8_t const> bytes, std::string const& subject);

    // Each counter's name and current value, in the kernel's order.
    std::vector<std::pair<std::string, uint64_t>> values() const;

private:
    StatisticsFile(FileDescriptor fd, std::string subject, std::vector<Counter> counters, uint64_t data_offset, uint64_t data_size)
        : m_fd(std::move(fd))
        , m_subject(std::move(subject))
        , m_counters(std::move(counters))
        , m_data_offset(data_offset)
        , m_data_size(data_size)
    {
    }

    FileDescriptor m_fd;
    std::string m_subject;
    std::vector<Counter> m_counters;
    uint64_t m_data_offset;
    uint64_t m_data_size;
};

// "exits 120, io_exits 40, ..." for the counters that are not zero.
std::string describe_statistics(std::vector<std::pair<std::string, uint64_t>> const& values);

}
