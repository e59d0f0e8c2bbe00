// A stdout that nobody reads must not keep vmm from stopping: a guest that
// writes to the 8250 without end fills the pipe, vmm gets SIGTERM, and it
// ends within a second, reporting (under -v) how much output it dropped.
#include "tests/support/Subprocess.h"

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace std::chrono_literals;
using vmm::testing::can_open_read_write;

namespace {

std::string const vmm_binary = VMM_BUILD_DIR "/vmm";
std::string const flood_guest = VMM_BUILD_DIR "/test-guests/serial_flood.bin";

}

TEST(StalledOutput, SigtermEndsVmmWithinASecond)
{
    if (!can_open_read_write("/dev/kvm"))
        GTEST_SKIP() << "this host has no usable /dev/kvm";
    int output[2];
    int errors[2];
    ASSERT_EQ(pipe2(output, O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(errors, O_CLOEXEC), 0);
    pid_t const pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int const null = open("/dev/null", O_RDONLY);
        dup2(null, STDIN_FILENO);
        dup2(output[1], STDOUT_FILENO);
        dup2(errors[1], STDERR_FILENO);
        vmm::testing::exec_or_exit({ vmm_binary, "-v", "boot", flood_guest });
    }
    close(output[1]);
    close(errors[1]);

    // The guest fills the pipe (whose reader never reads) ...
    int const capacity = fcntl(output[0], F_GETPIPE_SZ);
    int queued = 0;
    for (int tick = 0; tick < 600 && queued < capacity; ++tick) {
        std::this_thread::sleep_for(50ms);
        ASSERT_EQ(ioctl(output[0], FIONREAD, &queued), 0);
    }
    ASSERT_EQ(queued, capacity) << "the flooding guest did not fill stdout's pipe within 30 s";
    // ... and keeps writing for a while into a full one.
    std::this_thread::sleep_for(300ms);

    auto const start = std::chrono::steady_clock::now();
    kill(pid, SIGTERM);
    int const status = vmm::testing::wait_or_kill(pid, 5s);
    auto const took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(status, 128 + SIGTERM);
    EXPECT_LT(took, 1s) << "vmm took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";

    std::string log;
    char buffer[4096];
    ssize_t got;
    while ((got = read(errors[0], buffer, sizeof(buffer))) > 0)
        log.append(buffer, static_cast<size_t>(got));
    EXPECT_NE(log.find("bytes of guest output were dropped"), std::string::npos) << log;
    close(output[0]);
    close(errors[0]);
}
