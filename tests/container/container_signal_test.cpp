// Signals to `vmm --container`: every one the command can catch reaches it,
// also one sent while the container is still being set up, and the
// terminal's stop signals do not stop vmm while the container runs on.

#include "tests/container/ContainerTestSupport.h"
#include "tests/support/ProcStatus.h"

#include <chrono>
#include <csignal>
#include <sys/wait.h>
#include <thread>

using namespace container_test;

namespace {

class ContainerSignalTest : public ContainerTest { };

// The state letter of /proc/PID/status ('T' when stopped); '?' once gone.
char process_state(pid_t pid)
{
    auto const state = vmm::testing::status_field("/proc/" + std::to_string(pid) + "/status", "State:");
    return state.empty() ? '?' : state.front();
}

int wait_for_exit_status(pid_t pid)
{
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}

// Not only the six a shell's user thinks of: SIGALRM, SIGURG, SIGPWR, a
// real-time signal... vmm passes each on to init, which as PID 1 would drop
// one it had no handler for.
TEST_F(ContainerSignalTest, EverySignalTheCommandCatchesReachesIt)
{
    for (int number : { SIGALRM, SIGVTALRM, SIGPROF, SIGURG, SIGXCPU, SIGPWR, SIGRTMIN + 6 }) {
        auto const script = "trap 'exit 42' " + std::to_string(number) + "; echo ready; while true; do sleep 0.1; done";
        pid_t pid = start_vmm_until_output({ "--container", rootfs_directory, "--", "/bin/sh", "-c", script });
        ASSERT_GT(pid, 0) << number;
        ::kill(pid, number);
        EXPECT_EQ(wait_for_exit_status(pid), 42) << "signal " << number << " did not reach the command";
    }
}

// A supervisor that stops a container it has just started: the signal waits
// for the command instead of being lost in the container's set-up.
TEST_F(ContainerSignalTest, ASignalSentDuringTheStartIsNotLost)
{
    for (int delay_ms = 0; delay_ms < 12; ++delay_ms) {
        auto const started = std::chrono::steady_clock::now();
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0)
            vmm::testing::exec_or_exit({ vmm_binary, "--container", rootfs_directory, "--", "sleep", "5" });
        started_vmm_pids.push_back(pid);
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        ::kill(pid, SIGTERM);
        EXPECT_EQ(wait_for_exit_status(pid), 128 + SIGTERM) << "after " << delay_ms << " ms";
        EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(4)) << "after " << delay_ms << " ms: the command ran on";
    }
}

// As runc and docker: SIGTSTP, SIGTTIN and SIGTTOU go to the container
// (whose init ignores them), so vmm never stops while the container runs
// on behind a shell's "Stopped".
TEST_F(ContainerSignalTest, TheTerminalsStopSignalsDoNotStopVmm)
{
    pid_t pid = start_vmm_until_output({ "--container", rootfs_directory, "--", "/bin/sh", "-c", "trap 'exit 42' TERM; echo ready; while true; do sleep 0.1; done" });
    ASSERT_GT(pid, 0);
    for (int number : { SIGTSTP, SIGTTIN, SIGTTOU }) {
        ::kill(pid, number);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        EXPECT_NE(process_state(pid), 'T') << "signal " << number << " stopped vmm";
        ::kill(pid, SIGCONT);
    }
    ::kill(pid, SIGTERM);
    EXPECT_EQ(wait_for_exit_status(pid), 42);
}
