// Stopping vmm from the host: SIGTERM and SIGINT end the VM cleanly with
// 128 + signal, and the terminal vmm put in raw mode is restored.
#include "tests/support/Subprocess.h"

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <sys/wait.h>
#include <termios.h>
#include <thread>
#include <unistd.h>

using vmm::testing::can_open_read_write;
using vmm::testing::wait_or_kill;

namespace {

std::string const vmm_binary = VMM_BUILD_DIR "/vmm";
std::string const spin_guest = VMM_BUILD_DIR "/test-guests/spin.bin";

// Starts vmm on the spinning test guest with a pseudo-terminal as its
// stdin/stdout; returns its pid and the terminal's controller side.
std::pair<pid_t, int> start_on_terminal()
{
    int controller = -1;
    pid_t pid = forkpty(&controller, nullptr, nullptr, nullptr);
    if (pid == 0) {
        execl(vmm_binary.c_str(), vmm_binary.c_str(), "boot", spin_guest.c_str(), nullptr);
        _exit(127);
    }
    return { pid, controller };
}

class HostStop : public ::testing::TestWithParam<int> {
};

}

TEST_P(HostStop, EndsTheVmAndRestoresTheTerminal)
{
    if (!can_open_read_write("/dev/kvm"))
        GTEST_SKIP() << "this host has no usable /dev/kvm";
    int const signal_number = GetParam();
    auto const [pid, controller] = start_on_terminal();
    ASSERT_GT(pid, 0);
    // The controller side reports the line discipline settings of the terminal.
    termios settings {};
    bool raw = false;
    for (int tick = 0; tick < 100 && !raw; ++tick) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        raw = tcgetattr(controller, &settings) == 0 && !(settings.c_lflag & ICANON);
    }
    EXPECT_TRUE(raw) << "vmm puts its terminal in raw mode while the guest runs";
    kill(pid, signal_number);
    EXPECT_EQ(wait_or_kill(pid, std::chrono::seconds(10)), 128 + signal_number);
    ASSERT_EQ(tcgetattr(controller, &settings), 0);
    EXPECT_TRUE(settings.c_lflag & ICANON) << "canonical mode is back";
    EXPECT_TRUE(settings.c_lflag & ECHO) << "echo is back";
    close(controller);
}

INSTANTIATE_TEST_SUITE_P(Signals, HostStop, ::testing::Values(SIGTERM, SIGINT, SIGHUP));

TEST(HostStop, ConsoleEscapeQuits)
{
    if (!can_open_read_write("/dev/kvm"))
        GTEST_SKIP() << "this host has no usable /dev/kvm";
    auto const [pid, controller] = start_on_terminal();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    char const escape[] = { 0x01, 'x' };
    ASSERT_EQ(write(controller, escape, sizeof(escape)), 2);
    EXPECT_EQ(wait_or_kill(pid, std::chrono::seconds(10)), 130) << "Ctrl-A x quits as if interrupted";
    close(controller);
}
