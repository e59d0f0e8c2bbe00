#pragma once

#include <sys/types.h>

/* Memory of a process tree, read from /proc. */
struct MemorySample {
    long pss_kib;
    long guest_rss_kib;
    long cgroup_kib;
};

/* Adds the tree under `root` (its PSS without the guest RAM mapping of
 * `guest_bytes` bytes, that mapping's RSS, the usage of the memory cgroup
 * of its own that a process of it is in) to the peak seen so far. */
void workload_sample_tree(pid_t root, long guest_bytes, struct MemorySample *peak);
