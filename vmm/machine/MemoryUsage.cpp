#include "vmm/machine/MemoryUsage.h"

#include <fstream>
#include <sstream>

namespace vmm {

MemoryUsage parse_smaps(std::string const& smaps, std::vector<std::pair<uint64_t, uint64_t>> const& ranges)
{
    MemoryUsage usage;
    std::istringstream lines(smaps);
    std::string line;
    bool in_guest_mapping = false;
    while (std::getline(lines, line)) {
        auto field = [&](char const* name, uint64_t& total, uint64_t& guest_total) {
            if (!line.starts_with(name))
                return false;
            uint64_t const bytes = std::stoull(line.substr(std::string_view(name).size())) * 1024;
            total += bytes;
            if (in_guest_mapping)
                guest_total += bytes;
            return true;
        };
        if (field("Rss:", usage.resident_bytes, usage.guest_resident_bytes)
            || field("Private_Dirty:", usage.private_dirty_bytes, usage.guest_private_dirty_bytes)
            || field("Anonymous:", usage.anonymous_bytes, usage.guest_anonymous_bytes)
            // Pages of hugetlbfs (--hugepages) are resident but not in Rss.
            || field("Private_Hugetlb:", usage.resident_bytes, usage.guest_resident_bytes)
            || field("Shared_Hugetlb:", usage.resident_bytes, usage.guest_resident_bytes))
            continue;
        // A mapping's header line: "start-end perms offset dev inode [path]".
        auto const dash = line.find('-');
        auto const space = line.find(' ');
        if (dash == std::string::npos || space == std::string::npos || dash > space || line.find(':') < dash)
            continue;
        uint64_t const start = std::stoull(line.substr(0, dash), nullptr, 16);
        in_guest_mapping = false;
        for (auto const& [range_start, range_end] : ranges)
            in_guest_mapping = in_guest_mapping || (start >= range_start && start < range_end);
    }
    return usage;
}

MemoryUsage measure_memory_usage(GuestMemory const& memory)
{
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (auto const& region : memory.regions()) {
        auto const start = reinterpret_cast<uint64_t>(region.mapping.data());
        ranges.emplace_back(start, start + region.mapping.size());
    }
    std::ifstream file("/proc/self/smaps");
    std::stringstream text;
    text << file.rdbuf();
    return parse_smaps(text.str(), ranges);
}

}
