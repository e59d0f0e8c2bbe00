// guest/init on the host, as the container runs it: the command comes from
// argv after "--", the boot marker goes to stderr, and init exits with the
// command's status (128 + signal when it was killed).
#include "protocol.h"
#include "support/Subprocess.h"

#include <gtest/gtest.h>

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

TEST(GuestInit, PrintsTheBootMarkerAndPassesOutputThrough)
{
    auto const result = run_process({ init, "--", "/bin/echo", "hello" });
    EXPECT_EQ(result.exit_status, 0);
    EXPECT_NE(result.output.find(VMM_BOOT_MARKER_LINE " (container)\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("hello\n"), std::string::npos) << result.output;
}
