// vmm --container at a terminal, driven through tmux like a person: the
// shell gets a pty of the container's own (job control, Ctrl-C, window
// size), `exit N` ends vmm with N and leaves the terminal as it was.

#include "tests/container/ContainerTestSupport.h"
#include "tests/support/Tmux.h"

#include <fstream>
#include <sstream>

using namespace container_test;
using vmm::testing::TmuxSession;

namespace {

class ContainerTerminalTest : public ContainerTest {
protected:
    void SetUp() override
    {
        ContainerTest::SetUp();
        if (IsSkipped() || HasFatalFailure())
            return;
        if (!TmuxSession::available())
            GTEST_SKIP() << "tmux is not installed (scripts/install-deps installs it)";
        m_state = scratch_directory() + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    }

    // vmm with `arguments` in the window, between two `stty -g` and with
    // its exit status kept, then a line that says it is over.
    std::string wrapped(std::string const& arguments) const
    {
        return "stty -g > " + m_state + ".before; " + vmm_binary + " " + arguments + "; echo $? > " + m_state
            + ".status; stty -g > " + m_state + ".after; echo vmm-finished; sleep 60";
    }

    std::string state(char const* suffix) const
    {
        std::ifstream file(m_state + suffix);
        std::stringstream text;
        text << file.rdbuf();
        return text.str();
    }

    std::string m_state;
};

TEST_F(ContainerTerminalTest, InteractiveShellHasItsOwnTerminal)
{
    TmuxSession session(wrapped("--container " + rootfs_directory), 100, 30);
    ASSERT_TRUE(session.wait_for("/ #")) << session.screen();
    EXPECT_EQ(session.screen().find("job control turned off"), std::string::npos) << session.screen();

    session.send_keys({ "echo typed-$((6*7)); tty", "Enter" });
    EXPECT_TRUE(session.wait_for("typed-42\n/dev/pts/")) << session.screen();

    session.send_keys({ "stty size", "Enter" });
    EXPECT_TRUE(session.wait_for("\n30 100")) << session.screen();
    session.resize(80, 20);
    session.send_keys({ "stty size", "Enter" });
    EXPECT_TRUE(session.wait_for("\n20 80")) << session.screen();

    // Ctrl-C reaches the foreground job through the pty's line discipline.
    session.send_keys({ "sleep 20", "Enter" });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    session.send_keys({ "C-c" });
    session.send_keys({ "echo still-$((1+1))-here", "Enter" });
    EXPECT_TRUE(session.wait_for("still-2-here", std::chrono::seconds(2))) << session.screen();

    session.send_keys({ "exit 3", "Enter" });
    ASSERT_TRUE(session.wait_for("vmm-finished")) << session.screen();
    EXPECT_EQ(state(".status"), "3\n");
    EXPECT_FALSE(state(".before").empty());
    EXPECT_EQ(state(".after"), state(".before")) << "the host terminal's mode was not restored";
}

TEST_F(ContainerTerminalTest, CtrlAXStopsTheContainer)
{
    TmuxSession session(wrapped("--container " + rootfs_directory + " -t -- sh -c 'echo started; sleep 30'"), 100, 30);
    ASSERT_TRUE(session.wait_for("started")) << session.screen();
    session.send_keys({ "C-a", "x" });
    ASSERT_TRUE(session.wait_for("vmm-finished", std::chrono::seconds(5))) << session.screen();
    EXPECT_EQ(state(".status"), "137\n");
    EXPECT_EQ(state(".after"), state(".before")) << "the host terminal's mode was not restored";
}

TEST_F(ContainerTerminalTest, SigtermEndsTheRunAndRestoresTheTerminal)
{
    // Its own sleep (31 s), so that the pattern names this test's vmm and no
    // other test's running at the same time.
    TmuxSession session(wrapped("--container " + rootfs_directory + " -t -- sh -c 'echo started; sleep 31'"), 100, 30);
    ASSERT_TRUE(session.wait_for("started")) << session.screen();
    ASSERT_EQ(std::system(("pkill -TERM -f '^" + vmm_binary + " --container " + rootfs_directory + " -t -- sh -c echo started; sleep 31$'").c_str()), 0);
    ASSERT_TRUE(session.wait_for("vmm-finished", std::chrono::seconds(5))) << session.screen();
    EXPECT_EQ(state(".status"), "143\n");
    EXPECT_EQ(state(".after"), state(".before")) << "the host terminal's mode was not restored";
}

}
