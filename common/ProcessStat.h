#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>

namespace vmm {

// What /proc/PID/stat says of a process that has not exited.
struct ProcessStat {
    std::string name;        // The command name (comm), which may hold spaces and parentheses.
    uint64_t start_time { 0 }; // Clock ticks after boot: tells a reused PID apart.
};

// nullopt where `pid` is gone or has exited: a zombie (killed, not yet
// reaped by its parent) holds nothing of what it had.
std::optional<ProcessStat> running_process_stat(pid_t pid);

}
