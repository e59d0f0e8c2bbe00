// guest/init on the host, as the container runs it: the command comes from
// argv after "--", the boot marker goes to a pipe, and init exits with the
// command's status (128 + signal when it was killed).
#include "guest/protocol.h"
#include "tests/support/Subprocess.h"

#include <csignal>
#include <cstdlib>
#include <gtest/gtest.h>
#include <unistd.h>

using vmm::testing::run_process;

namespace {
std::string const init = VMM_BUILD_DIR "/guest/init";
}

TEST(GuestInit, ReportsTheCommandsExitStatus)
{
    EXPECT_EQ(run_process({ init, "--", "/bin/sh", "-c", "exit 7" }).exit_status, 7);
    EXPECT_EQ(run_process({ init, "--", "/bin/true" }).exit_status, 0);
    EXPECT_EQ(run_process({ init, "/bin/false" }).exit_status, 1) << "the -- is optional";
}

TEST(GuestInit, KilledCommandReports128PlusSignal)
{
    auto const result = run_process({ init, "--", "/bin/sh", "-c", "kill -KILL $$" });
    EXPECT_EQ(result.exit_status, 137) << result.output;
}

TEST(GuestInit, MissingProgramIs127)
{
    auto const result = run_process({ init, "--", "/nonexistent/program" });
    EXPECT_EQ(result.exit_status, 127);
    EXPECT_NE(result.output.find("vmm-init: execvp /nonexistent/program"), std::string::npos) << result.output;
}

TEST(GuestInit, AProgramThatCannotBeExecutedIs126)
{
    char path[] = "/tmp/vmm-init-not-executable-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    auto const result = run_process({ init, "--", path });
    ::unlink(path);
    EXPECT_EQ(result.exit_status, 126) << result.output;
    EXPECT_NE(result.output.find(std::string("vmm-init: execvp ") + path), std::string::npos) << result.output;
}

// Init forwards SIGINT and SIGTERM and ignores the terminal's stop signals,
// with all of them blocked while it starts the command: the command gets
// none of that, but the defaults and an empty mask.
TEST(GuestInit, TheCommandStartsWithDefaultSignalsAndNoneBlocked)
{
    auto const result = run_process({ init, "--", "/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status" });
    ASSERT_EQ(result.exit_status, 0) << result.output;
    auto mask_of = [&](std::string const& field) {
        auto const at = result.output.find(field + ":\t");
        EXPECT_NE(at, std::string::npos) << result.output;
        return at == std::string::npos ? ~0ull : std::stoull(result.output.substr(at + field.size() + 2, 16), nullptr, 16);
    };
    auto bit = [](int signal_number) { return 1ull << (signal_number - 1); };
    EXPECT_EQ(mask_of("SigBlk"), 0u) << result.output;
    EXPECT_EQ(mask_of("SigIgn") & (bit(SIGTTOU) | bit(SIGTTIN) | bit(SIGTSTP) | bit(SIGINT) | bit(SIGTERM)), 0u) << result.output;
}

TEST(GuestInit, PrintsOnlyTheCommandsOutput)
{
    auto const result = run_process({ init, "--", "/bin/echo", "hello" });
    EXPECT_EQ(result.exit_status, 0);
    EXPECT_EQ(result.output, "hello\n");
}

// The boot marker goes to the fd the runtime names, as one byte, and that
// fd is closed before the command runs (it does not inherit it).
TEST(GuestInit, WritesTheBootMarkerToItsPipe)
{
    int marker[2];
    ASSERT_EQ(::pipe(marker), 0);
    auto const option = std::string(VMM_MARKER_FD_OPTION) + std::to_string(marker[1]);
    auto const result = run_process({ init, option, "--", "/bin/sh", "-c", "ls /proc/self/fd/" + std::to_string(marker[1]) + " 2>/dev/null || echo closed" });
    ::close(marker[1]);
    char bytes[4] {};
    EXPECT_EQ(::read(marker[0], bytes, sizeof(bytes)), 1);
    EXPECT_EQ(bytes[0], '1');
    ::close(marker[0]);
    EXPECT_EQ(result.exit_status, 0);
    EXPECT_EQ(result.output, "closed\n");
}

// In a container, /proc/cmdline is the host kernel's command line. On a host
// that vmm booted itself, it holds vmm.mode=vm and the host's own vmm.arg=
// command, so init must know it is the container's init from the runtime's
// argument, not from the command line: otherwise it runs the host's command
// and ends as a VM does (a remount of the root read-only, a byte to an I/O
// port, a reboot). Here init is PID 1 of new namespaces whose /proc/cmdline
// says so, without the capabilities that such an ending would use.
TEST(GuestInit, AContainerOnAHostBootedByVmmRunsItsOwnCommand)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root (a mount and PID namespace)";
    if (::access("/usr/bin/unshare", X_OK) != 0 || ::access("/usr/bin/setpriv", X_OK) != 0)
        GTEST_SKIP() << "needs unshare and setpriv (util-linux)";
    char directory[] = "/tmp/vmm-init-cmdline-XXXXXX";
    ASSERT_NE(::mkdtemp(directory), nullptr);
    std::string const cmdline = std::string(directory) + "/cmdline";
    FILE* file = std::fopen(cmdline.c_str(), "w");
    ASSERT_NE(file, nullptr);
    std::fputs("console=ttyS0 " VMM_CMDLINE_MODE_VM " " VMM_CMDLINE_ARGUMENT_KEY "/bin/echo " VMM_CMDLINE_ARGUMENT_KEY "the-host's-command\n", file);
    std::fclose(file);

    auto const script = "mount --bind " + cmdline + " /proc/cmdline && exec setpriv --bounding-set -sys_admin,-sys_rawio,-sys_boot \"$0\" \"$@\"";
    auto const result = run_process({ "unshare", "--mount", "--uts", "--ipc", "--net", "--pid", "--kill-child", "--mount-proc",
                                        "sh", "-c", script, init, VMM_CONTAINER_OPTION, "--", "/bin/echo", "the container's own command" },
        10);
    ::unlink(cmdline.c_str());
    ::rmdir(directory);
    EXPECT_FALSE(result.timed_out) << result.output;
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_EQ(result.output, "the container's own command\n");
}
