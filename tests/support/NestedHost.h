#pragma once

// What the tests on the nested SVM host share: scripts/nested-kvm's command
// line, its "unavailable" and "timed out" statuses, and the x86_64 build it
// packs into L1.
// Header-only, because VMM_SOURCE_DIR and VMM_BUILD_DIR are defined for the
// test binaries, not for the support library.

#include "tests/support/Subprocess.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace vmm::testing {

// scripts/nested-kvm's exit status where this host cannot make the nested
// host (no QEMU, no outer kernel): the tests skip with its output.
constexpr int nested_unavailable_status = 77;

// scripts/nested-kvm's exit status when its --timeout expired and QEMU was killed.
constexpr int nested_timed_out_status = 124;

struct NestedRun {
    // scripts/nested-kvm's own options: --file, --network, --program ...
    std::vector<std::string> options {};
    // What L1 runs.
    std::vector<std::string> command {};
    // L1's time; the process gets 100 s more to pack the initramfs and start QEMU.
    int timeout_seconds { 300 };
};

// Runs scripts/nested-kvm with this build. The output comes without "\r":
// the guest's tty turns "\n" into "\r\n" on the console.
inline ProcessResult run_nested(NestedRun const& run)
{
    std::vector<std::string> arguments { VMM_SOURCE_DIR "/scripts/nested-kvm", "--build-dir", VMM_BUILD_DIR, "--timeout",
        std::to_string(run.timeout_seconds) };
    arguments.insert(arguments.end(), run.options.begin(), run.options.end());
    arguments.push_back("--");
    arguments.insert(arguments.end(), run.command.begin(), run.command.end());
    auto result = run_process(arguments, run.timeout_seconds + 100);
    std::erase(result.output, '\r');
    return result;
}

// Runs scripts/nested-kvm as `next_run` gives it, and again each time the
// nested host froze (QEMU's emulator sometimes stops it as a whole, until
// scripts/nested-kvm's timeout: see README.md), at most `restarts` times,
// with a note on stderr each time. `next_run` gets the output of the run
// that froze (empty at first), so that a run can go on where that one
// stopped. The result is the last run's.
inline ProcessResult run_nested_through_freezes(int restarts, std::function<NestedRun(std::string const& frozen_output)> const& next_run)
{
    auto result = run_nested(next_run(""));
    for (int restart = 1; restart <= restarts && result.exit_status == nested_timed_out_status; ++restart) {
        std::fprintf(stderr, "the nested host froze; starting it again (%d of at most %d):\n%s\n", restart, restarts, result.output.c_str());
        result = run_nested(next_run(result.output));
    }
    return result;
}

// Fails naming the first of vmm, guest/bzImage and guest/rootfs.ext4 that
// this build lacks.
inline ::testing::AssertionResult guest_build_is_complete()
{
    for (auto const* path : { VMM_BUILD_DIR "/vmm", VMM_BUILD_DIR "/guest/bzImage", VMM_BUILD_DIR "/guest/rootfs.ext4" }) {
        if (!std::filesystem::exists(path))
            return ::testing::AssertionFailure() << path << " is missing: build vmm and run guest/build-kernel and guest/build-rootfs";
    }
    return ::testing::AssertionSuccess();
}

}
