// guest/init on the host, as the container runs it: the command comes from
// argv after "--", the boot marker goes to a pipe, and init exits with the
// command's status (128 + signal when it was killed).
#include "guest/protocol.h"
#include "tests/support/Subprocess.h"

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
