#pragma once

#include <atomic>
#include <chrono>
#include <string>

namespace vmm {

// Start-up milestones of a VM for --timings, measured from process start
// (which the container runtime's --timings uses too).
class Timings {
public:
    enum class Milestone {
        VmCreated,
        FirstKvmRun,
        BootMarker,
        Exit,
        Count,
    };

    // Records `milestone` the first time it is reached; later calls are ignored.
    void mark(Milestone milestone);
    // "vm created 3.1 ms, first KVM_RUN 9.0 ms, boot marker 812.4 ms, exit 900.2 ms"
    std::string summary() const;

    // When vmm started: the first call, which main() makes first thing.
    static std::chrono::steady_clock::time_point process_start();
    // Milliseconds since then.
    static double elapsed_milliseconds();

private:
    std::atomic<int64_t> m_nanoseconds[static_cast<int>(Milestone::Count)] {};
};

}
