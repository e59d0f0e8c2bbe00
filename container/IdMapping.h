#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace vmm::container {

// Container ids 0..count-1 are host ids first..first+count-1.
struct IdRange {
    uint32_t first;
    uint32_t count;

    bool overlaps(IdRange const& other) const
    {
        return uint64_t(first) < uint64_t(other.first) + other.count && uint64_t(other.first) < uint64_t(first) + count;
    }
};

struct IdMapping {
    IdRange users;
    IdRange groups;
};

// The ranges of /etc/subuid or /etc/subgid text ("name:first:count" lines).
struct SubordinateEntry {
    std::string owner;
    IdRange range;
};
std::vector<SubordinateEntry> parse_subordinate_ids(std::string_view text);

// The ids a rootless container of a root caller maps to: root's own entry
// of /etc/subuid (by name or as 0), else the first 65536 ids from 524288
// (systemd-nspawn's range for containers) up that no entry hands to anyone,
// so that container root is an unprivileged, unowned host uid.
IdRange choose_root_subordinate_range(std::vector<SubordinateEntry> const& entries);

// The mapping of the calling process's rootless container: an unprivileged
// caller maps root to itself (one id, as an unprivileged process may write);
// root maps the container's 65536 ids to a subordinate range, read from
// /etc/subuid and /etc/subgid.
IdMapping rootless_id_mapping();

}
