// vmm boot at a terminal, stopped and continued: the shell that got the
// terminal back meanwhile made it cooked, and `fg` only continues vmm, so
// vmm makes it raw again (as the container's terminal relay does).
#include "tests/support/ProcStatus.h"
#include "tests/support/Subprocess.h"
#include "tests/support/Tmux.h"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <gtest/gtest.h>
#include <thread>
#include <unistd.h>

using namespace std::chrono_literals;
using vmm::testing::can_open_read_write;
using vmm::testing::first_line;
using vmm::testing::run_process;

namespace {

std::string const vmm_binary = VMM_BUILD_DIR "/vmm";
std::string const guests = VMM_BUILD_DIR "/test-guests/";

// vmm's raw mode: no line editing, no echo, and no signals from keys
// (which readline keeps on while it edits a line at the shell's prompt).
bool is_raw(std::string const& terminal)
{
    auto settings = run_process({ "stty", "-F", terminal, "-a" }).output;
    return settings.find("-icanon") != std::string::npos && settings.find("-echo ") != std::string::npos && settings.find("-isig") != std::string::npos;
}

}

TEST(ConsoleContinue, AStoppedAndContinuedVmmMakesTheTerminalRawAgain)
{
    if (!can_open_read_write("/dev/kvm"))
        GTEST_SKIP() << "this host has no usable /dev/kvm";
    if (!vmm::testing::TmuxSession::available())
        GTEST_SKIP() << "tmux is not installed (scripts/install-deps installs it)";
    if (!std::filesystem::exists("/bin/bash"))
        GTEST_SKIP() << "no /bin/bash for the job-control shell";
    auto const scratch = std::filesystem::temp_directory_path() / ("vmm-console-continue-" + std::to_string(::getpid()));
    std::filesystem::create_directories(scratch);
    // An interactive shell, which runs vmm as a job of its own and takes the
    // terminal back (cooked) when the job stops, as a user's shell does.
    vmm::testing::TmuxSession session("exec bash --norc --noprofile -i", 80, 24);
    auto const pid_file = (scratch / "pid").string();
    auto const tty_file = (scratch / "tty").string();
    session.send_keys({ "tty > " + tty_file + "; " + vmm_binary + " boot " + guests + "serial_echo.bin & echo $! > " + pid_file + "; fg", "Enter" });
    pid_t vmm = 0;
    std::string terminal;
    for (int tick = 0; tick < 100 && vmm == 0; ++tick) {
        std::this_thread::sleep_for(50ms);
        terminal = first_line(tty_file);
        if (auto const pid = first_line(pid_file); !pid.empty())
            vmm = std::stoi(pid);
    }
    ASSERT_GT(vmm, 0) << "vmm did not start in the tmux window:\n" << session.screen();
    bool raw = false;
    for (int tick = 0; tick < 100 && !raw; ++tick, std::this_thread::sleep_for(50ms))
        raw = is_raw(terminal);
    ASSERT_TRUE(raw) << "vmm did not make " << terminal << " raw";

    // Stopped as a background read would stop it; the shell reports the job
    // stopped and sets the terminal back to its own (cooked) settings.
    ::kill(vmm, SIGTTIN);
    EXPECT_TRUE(session.wait_for("Stopped", 5s)) << session.screen();
    for (int tick = 0; tick < 100 && raw; ++tick, std::this_thread::sleep_for(20ms))
        raw = is_raw(terminal);
    EXPECT_FALSE(raw) << "the shell did not take the terminal back";
    // fg: the shell gives vmm the terminal and continues it, nothing more.
    session.send_keys({ "fg", "Enter" });
    for (int tick = 0; tick < 100 && !raw; ++tick, std::this_thread::sleep_for(50ms))
        raw = is_raw(terminal);
    EXPECT_TRUE(raw) << "vmm left " << terminal << " cooked after fg:\n" << session.screen();

    ::kill(vmm, SIGTERM);
    std::filesystem::remove_all(scratch);
}
