#pragma once

// Runs a program for a test and captures what it printed and how it ended.

#include <string>
#include <vector>

namespace vmm::testing {

struct ProcessResult {
    int exit_status { -1 };   // The exit code, or 128 + signal when killed.
    bool timed_out { false }; // Killed by run_process after `timeout_seconds`.
    std::string output;       // stdout and stderr, interleaved as printed.
    bool dumped_core { false };
};

// Runs `arguments` and kills it after `timeout_seconds`. Its stdin is a pipe
// that carries `input` and is then closed, or /dev/null when `input` is empty.
ProcessResult run_process(std::vector<std::string> const& arguments, int timeout_seconds = 60, std::string const& input = {});

// In a forked child: executes `arguments` (searching PATH for the first),
// and exits with 127 if that fails.
[[noreturn]] void exec_or_exit(std::vector<std::string> const& arguments);

// True when `path` exists and can be opened for reading and writing (e.g. /dev/kvm).
bool can_open_read_write(char const* path);

// The number of lines in `output` that contain `needle`.
int count_lines_containing(std::string const& output, std::string const& needle);

}
