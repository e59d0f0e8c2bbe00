// A stdout that nobody reads must not keep vmm from stopping: a guest that
// writes to the 8250 without end fills the pipe, vmm gets SIGTERM, and it
// ends within a second, reporting (under -v) how much output it dropped.
// And a stdout read late loses nothing of a guest that honours CTS.
#include "common/FileDescriptor.h"
#include "tests/support/Subprocess.h"

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>

using namespace std::chrono_literals;
using vmm::testing::can_open_read_write;

namespace {

std::string const vmm_binary = VMM_BUILD_DIR "/vmm";
std::string const flood_guest = VMM_BUILD_DIR "/test-guests/serial_flood.bin";
std::string const stream_guest = VMM_BUILD_DIR "/test-guests/serial_stream.bin";
constexpr size_t stream_size = 512 * 1024; // tests/guests/serial_stream.S

// Kills and reaps the process unless the test did: an assertion that
// fails midway must not leave a vmm running.
struct ReapOnExit {
    ~ReapOnExit()
    {
        if (pid > 0)
            vmm::testing::wait_or_kill(pid, 0ms);
    }
    pid_t pid;
};

// `vmm -v boot GUEST` with stdin from /dev/null and stdout and stderr on
// pipes whose read ends are output[0] and errors[0]; the write ends are closed.
pid_t start_vmm(std::string const& guest, int (&output)[2], int (&errors)[2])
{
    if (pipe2(output, O_CLOEXEC) != 0 || pipe2(errors, O_CLOEXEC) != 0)
        return -1;
    pid_t const pid = fork();
    if (pid == 0) {
        int const null = open("/dev/null", O_RDONLY);
        dup2(null, STDIN_FILENO);
        dup2(output[1], STDOUT_FILENO);
        dup2(errors[1], STDERR_FILENO);
        vmm::testing::exec_or_exit({ vmm_binary, "-v", "boot", guest });
    }
    close(output[1]);
    close(errors[1]);
    return pid;
}

}

TEST(StalledOutput, SigtermEndsVmmWithinASecond)
{
    if (!can_open_read_write("/dev/kvm"))
        GTEST_SKIP() << "this host has no usable /dev/kvm";
    int output[2];
    int errors[2];
    pid_t const pid = start_vmm(flood_guest, output, errors);
    ASSERT_GE(pid, 0);
    ReapOnExit reap { pid };

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
    int const status = vmm::testing::wait_or_kill(std::exchange(reap.pid, -1), 5s);
    auto const took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(status, 128 + SIGTERM);
    EXPECT_LT(took, 1s) << "vmm took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";

    auto const log = vmm::read_all(errors[0]);
    EXPECT_NE(log.find("bytes of guest output were dropped"), std::string::npos) << log;
    close(output[0]);
    close(errors[0]);
}

TEST(StalledOutput, AGuestThatHonoursCtsLosesNothingToALateReader)
{
    if (!can_open_read_write("/dev/kvm"))
        GTEST_SKIP() << "this host has no usable /dev/kvm";
    int output[2];
    int errors[2];
    pid_t const pid = start_vmm(stream_guest, output, errors);
    ASSERT_GE(pid, 0);
    ReapOnExit reap { pid };

    // Nobody reads stdout until vmm says (under -v) that its UART dropped
    // CTS: its buffer then holds 256 KiB beside the full pipe, and the guest
    // waits. Then a second more, in which a guest that went on would write on.
    std::string log;
    for (auto const deadline = std::chrono::steady_clock::now() + 120s;
        log.find("drops CTS") == std::string::npos && std::chrono::steady_clock::now() < deadline;) {
        pollfd ready { errors[0], POLLIN, 0 };
        if (poll(&ready, 1, 1000) != 1)
            continue;
        char buffer[4096];
        ssize_t const got = read(errors[0], buffer, sizeof(buffer));
        if (got <= 0)
            break;
        log.append(buffer, static_cast<size_t>(got));
    }
    ASSERT_NE(log.find("drops CTS"), std::string::npos) << "the UART never held the guest back within 120 s: " << log;
    std::this_thread::sleep_for(1s);

    auto const received = vmm::read_all(output[0]);
    int const status = vmm::testing::wait_or_kill(std::exchange(reap.pid, -1), 300s);
    log += vmm::read_all(errors[0]);
    close(output[0]);
    close(errors[0]);
    EXPECT_EQ(status, 0) << log;
    EXPECT_EQ(log.find("dropped"), std::string::npos) << log;
    EXPECT_NE(log.find("raises CTS again"), std::string::npos) << log;
    ASSERT_EQ(received.size(), stream_size) << log;
    for (size_t index = 0; index < received.size(); ++index)
        ASSERT_EQ(static_cast<uint8_t>(received[index]), index % 251) << "byte " << index;
}
