// podman and containerd with vmm-runc as their runtime, on an image made
// from the test rootfs without any registry (podman import), in private
// storage (--root, --runroot, vfs) and a containerd of its own.

#include "tests/oci/OciTestSupport.h"
#include "tests/support/Tmux.h"

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <thread>

namespace oci_test {

namespace {

// (Below) this host's session may not raise RLIMIT_NOFILE past 20000 (HOST-NOTES):
// podman's default rlimits would fail under any runtime.
// No network of podman's: its default would make a bridge and firewall rules.
std::vector<std::string> const ulimits { "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768", "--network", "none" };

class PodmanTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (::geteuid() != 0)
            GTEST_SKIP() << "podman with a root runtime needs root";
        if (!std::filesystem::exists("/usr/bin/podman"))
            GTEST_SKIP() << "podman is not installed";
        if (!std::filesystem::exists(test_rootfs + "/bin/sh"))
            GTEST_SKIP() << "no test rootfs at " << test_rootfs;
        m_scratch = std::filesystem::temp_directory_path() / ("vmm-podman-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(m_scratch);
        auto imported = vmm::testing::run_process({ "/bin/sh", "-c", "tar -C " + test_rootfs + " -c . | podman " + storage_flags() + " import - localhost/vmm-test-rootfs:latest" }, 120);
        if (imported.exit_status != 0)
            GTEST_SKIP() << "podman import failed here: " << imported.output;
    }
    void TearDown() override
    {
        if (m_scratch.empty())
            return;
        vmm::testing::run_process({ "/bin/sh", "-c", "podman " + storage_flags() + " rm -af -t 0 >/dev/null 2>&1; podman " + storage_flags() + " rmi -af >/dev/null 2>&1" }, 120);
        std::filesystem::remove_all(m_scratch);
    }

    std::string storage_flags() const
    {
        return "--root " + m_scratch + "/root --runroot " + m_scratch + "/run --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime " + runtime_binary;
    }

    vmm::testing::ProcessResult podman(std::vector<std::string> const& arguments, int timeout_seconds = 60)
    {
        std::vector<std::string> command { "/bin/sh", "-c", "exec podman " + storage_flags() + " \"$@\"", "sh" };
        command.insert(command.end(), arguments.begin(), arguments.end());
        return vmm::testing::run_process(command, { .timeout_seconds = timeout_seconds, .input = {}, .streams = vmm::testing::OutputStreams::Separate });
    }

    std::vector<std::string> with_ulimits(std::vector<std::string> arguments)
    {
        arguments.insert(arguments.begin() + 1, ulimits.begin(), ulimits.end());
        return arguments;
    }

    std::string m_scratch;
};

std::string trimmed(std::string text)
{
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    return text;
}

}

TEST_F(PodmanTest, RunRm)
{
    auto result = podman(with_ulimits({ "run", "--rm", "localhost/vmm-test-rootfs", "sh", "-c", "echo hello from vmm-runc; cat /proc/1/cmdline | tr '\\0' ' '" }));
    EXPECT_EQ(result.exit_status, 0) << result.output << result.error_output;
    EXPECT_EQ(result.output, "hello from vmm-runc\nsh -c echo hello from vmm-runc; cat /proc/1/cmdline | tr '\\0' ' ' ") << result.error_output;
    auto status = podman(with_ulimits({ "run", "--rm", "localhost/vmm-test-rootfs", "sh", "-c", "exit 3" }));
    EXPECT_EQ(status.exit_status, 3) << status.error_output;
}

TEST_F(PodmanTest, RunInteractiveThroughTmux)
{
    if (!vmm::testing::TmuxSession::available())
        GTEST_SKIP() << "tmux is not installed";
    std::string command = "podman " + storage_flags() + " run -it --rm";
    for (auto const& flag : ulimits)
        command += " " + flag;
    command += " localhost/vmm-test-rootfs sh; echo podman-exited-$?; sleep 30";
    vmm::testing::TmuxSession session(command, 100, 30);
    ASSERT_TRUE(session.wait_for("#", std::chrono::seconds(30))) << session.screen();
    session.send_keys({ "tty; echo answer-$((6*7))", "Enter" });
    EXPECT_TRUE(session.wait_for("answer-42")) << session.screen();
    EXPECT_NE(session.screen().find("/dev/pts/0"), std::string::npos) << session.screen();
    session.send_keys({ "exit 5", "Enter" });
    EXPECT_TRUE(session.wait_for("podman-exited-5", std::chrono::seconds(30))) << session.screen();
}

TEST_F(PodmanTest, ExecStopPs)
{
    auto started = podman(with_ulimits({ "run", "-d", "--name", "vmm-long", "localhost/vmm-test-rootfs", "sleep", "1000" }));
    ASSERT_EQ(started.exit_status, 0) << started.error_output;
    auto listed = podman({ "ps", "--format", "{{.Names}} {{.Status}}" });
    EXPECT_EQ(listed.output.substr(0, 12), "vmm-long Up ") << listed.output << listed.error_output;
    auto exec = podman({ "exec", "vmm-long", "sh", "-c", "echo exec-$((1+1)); cat /proc/1/comm" });
    EXPECT_EQ(exec.exit_status, 0) << exec.error_output;
    EXPECT_EQ(exec.output, "exec-2\nsleep\n") << exec.error_output;
    auto top = podman({ "top", "vmm-long", "pid", "args" });
    EXPECT_NE(top.output.find("sleep 1000"), std::string::npos) << top.output << top.error_output;
    // sleep ignores SIGTERM as PID 1: stop waits its timeout, then kills.
    auto stopped = podman({ "stop", "-t", "1", "vmm-long" });
    EXPECT_EQ(stopped.exit_status, 0) << stopped.error_output;
    auto exited = podman({ "ps", "-a", "--format", "{{.Names}} {{.Status}}" });
    EXPECT_EQ(exited.output.substr(0, 16), "vmm-long Exited ") << exited.output;
    EXPECT_EQ(podman({ "rm", "vmm-long" }).exit_status, 0);
    EXPECT_EQ(trimmed(podman({ "ps", "-aq" }).output), "");
}

// containerd started by hand (its own root, state and socket; CRI off),
// `ctr run --runc-binary vmm-runc` on a rootfs directory.
TEST(ContainerdTest, CtrRunWithVmmAsTheRuncBinary)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "containerd needs root";
    if (!std::filesystem::exists("/usr/bin/containerd") || !std::filesystem::exists("/usr/bin/ctr") || !std::filesystem::exists("/usr/bin/containerd-shim-runc-v2"))
        GTEST_SKIP() << "containerd, ctr or containerd-shim-runc-v2 is not installed";
    std::string scratch = std::filesystem::temp_directory_path() / ("vmm-containerd-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(scratch);
    ASSERT_EQ(std::system(("cp -aH " + test_rootfs + " " + scratch + "/rootfs").c_str()), 0);
    std::ofstream(scratch + "/config.toml") << "version = 2\nroot = \"" << scratch << "/root\"\nstate = \"" << scratch
                                            << "/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"" << scratch
                                            << "/containerd.sock\"\n[ttrpc]\n  address = \"" << scratch << "/containerd.sock.ttrpc\"\n";
    pid_t daemon = ::fork();
    if (daemon == 0) {
        ::setpgid(0, 0);
        int log = ::open((scratch + "/containerd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ::dup2(log, 1);
        ::dup2(log, 2);
        vmm::testing::exec_or_exit({ "containerd", "--config", scratch + "/config.toml" });
    }
    bool ready = false;
    for (int attempt = 0; attempt < 200 && !ready; ++attempt) {
        ready = std::filesystem::exists(scratch + "/containerd.sock");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    auto ctr = [&](std::vector<std::string> arguments) {
        std::vector<std::string> command { "ctr", "--address", scratch + "/containerd.sock" };
        command.insert(command.end(), arguments.begin(), arguments.end());
        return vmm::testing::run_process(command, { .timeout_seconds = 60, .input = {}, .streams = vmm::testing::OutputStreams::Separate });
    };
    if (ready) {
        auto result = ctr({ "run", "--rm", "--runc-binary", runtime_binary, "--runc-root", scratch + "/runc", "--rootfs", scratch + "/rootfs", "vmm-ctr", "/bin/sh", "-c", "echo hi from containerd; exit 4" });
        EXPECT_EQ(result.exit_status, 4) << result.output << result.error_output << read_text(scratch + "/containerd.log").substr(0, 2000);
        EXPECT_EQ(result.output, "hi from containerd\n") << result.error_output;
        EXPECT_EQ(trimmed(ctr({ "containers", "list", "-q" }).output), "");
        // vmm-runc's state for it is gone.
        EXPECT_TRUE(!std::filesystem::exists(scratch + "/runc/default/vmm-ctr"));
    }
    ::kill(-daemon, SIGTERM);
    EXPECT_GE(vmm::testing::wait_or_kill(daemon, std::chrono::seconds(10)), 0);
    ASSERT_TRUE(ready) << "containerd did not start: " << read_text(scratch + "/containerd.log").substr(0, 2000);
    std::filesystem::remove_all(scratch);
}

}
