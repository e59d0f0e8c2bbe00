#pragma once

#include "container/IdMapping.h"

#include <cstddef>
#include <string>
#include <sys/types.h>

namespace vmm::container {

// Where root's containers keep what they write over a directory rootfs.
constexpr char const* writable_layers_directory = "/var/lib/vmm/containers";

// The upper layer of a directory rootfs's overlay, as Docker keeps one under
// /var/lib/docker: on the host's disk, so that the container's writes go
// through the host's page cache and writeback (a tmpfs would hold them in
// memory; the overlay is volatile, so fsync in it does not wait), in a
// directory only the container's root can enter (a setuid file written
// there must not be reachable by host users), and removed when the
// container ends. A vmm killed by SIGKILL leaves it; the next run sweeps.
class WritableLayer {
public:
    // Makes LAYERS/PID with upper/ and work/ owned by the container's root.
    WritableLayer(pid_t owner, IdRange const& user_ids, IdRange const& group_ids);
    ~WritableLayer();
    WritableLayer(WritableLayer const&) = delete;
    WritableLayer& operator=(WritableLayer const&) = delete;

    std::string const& path() const { return m_path; }

    // Removes the work directory the last mount of a pooled layer left (see
    // claim_pooled_layer()). Called once the container runs, off the path
    // between start and exit; the destructor calls it where a failed start
    // did not, so that no pooled layer keeps one.
    void remove_stale_work();

private:
    // Where empty layers wait for the next container: slots 0 to
    // pool_slots - 1.
    static constexpr size_t pool_slots = 8;
    static std::string pool_directory();
    static std::string pool_slot_path(size_t slot);
    void claim_pooled_layer();
    bool return_to_pool();
    std::string stale_work_path() const;

    std::string m_path;
    bool m_has_stale_work { false }; // Claimed from the pool, remove_stale_work() not yet run.
};

// Removes the layers of vmm processes that are gone.
void sweep_stale_writable_layers();

}
