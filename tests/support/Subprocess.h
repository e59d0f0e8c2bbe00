#pragma once

// Runs a program for a test and captures what it printed and how it ended.

#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace vmm::testing {

// Whether stderr is captured with stdout, as a terminal would show them, or apart.
enum class OutputStreams {
    Interleaved,
    Separate,
};

struct ProcessOptions {
    int timeout_seconds { 60 };
    // Carried by a pipe that is then closed; stdin is /dev/null when empty.
    std::string input;
    OutputStreams streams { OutputStreams::Interleaved };
};

struct ProcessResult {
    int exit_status { -1 };   // The exit code, or 128 + signal when killed.
    bool timed_out { false }; // Killed by run_process after `timeout_seconds`.
    std::string output;       // stdout, and stderr interleaved as printed unless OutputStreams::Separate.
    std::string error_output; // stderr, with OutputStreams::Separate.
    bool dumped_core { false };
    pid_t pid { -1 }; // The process it ran, long gone by the time this returns.
};

// Runs `arguments` in a process group of its own and kills the group after
// `options.timeout_seconds`.
ProcessResult run_process(std::vector<std::string> const& arguments, ProcessOptions const& options);

// The same, with stdout and stderr interleaved.
ProcessResult run_process(std::vector<std::string> const& arguments, int timeout_seconds = 60, std::string const& input = {});

// Waits up to `limit` for the child `pid` to end and returns its exit status
// (128 + signal when killed); after `limit`, kills it and returns -1.
int wait_or_kill(pid_t pid, std::chrono::milliseconds limit);

// In a forked child: executes `arguments` (searching PATH for the first),
// and exits with 127 if that fails.
[[noreturn]] void exec_or_exit(std::vector<std::string> const& arguments);

// True when `path` exists and can be opened for reading and writing (e.g. /dev/kvm).
bool can_open_read_write(char const* path);

// The number of lines in `output` that contain `needle`.
int count_lines_containing(std::string const& output, std::string const& needle);

}
