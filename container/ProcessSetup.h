#pragma once

#include "container/ContainerSpec.h"

#include <string>

namespace vmm::container {

// The steps that turn the container's set-up process into process.* of the
// spec, in the order the child runs them (after pivot_root).

// setrlimit for each of process.rlimits.
void apply_resource_limits(std::vector<ResourceLimit> const& limits);

// Writes process.oomScoreAdj to /proc/self/oom_score_adj.
void set_oom_score_adjustment(int adjustment);

// setgroups(additionalGids), then the gid and the uid; the permitted
// capabilities survive the uid change (PR_SET_KEEPCAPS) for
// apply_capability_sets to pick from.
void switch_user(ProcessSpec const& process);

// process.args[0] as execve will find it: a path with a '/' as it is, a name
// looked up in the PATH of process.env (or the default PATH). Throws, naming
// it, if there is no such executable file.
std::string find_executable(ProcessSpec const& process);

// The environment with PATH and HOME added where the spec has none (HOME
// from the container's /etc/passwd, read from inside it), as runc adds them.
std::vector<std::string> process_environment(ProcessSpec const& process);

}
