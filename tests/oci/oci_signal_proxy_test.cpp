// Foreground run and exec stand for the container's process, as runc's
// signal proxy does: a signal to the runtime reaches the process, and the
// runtime exits with the process's status once it ends.

#include "tests/oci/OciTestSupport.h"

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <sys/wait.h>
#include <thread>

namespace oci_test {

namespace {

class OciSignalProxyTest : public OciFixture {
protected:
    // Starts the runtime in the background, its output in files.
    pid_t start_runtime(std::vector<std::string> const& arguments)
    {
        std::vector<std::string> command { runtime_binary, "--root", m_root };
        command.insert(command.end(), arguments.begin(), arguments.end());
        auto output = m_scratch + "/background.out";
        pid_t pid = ::fork();
        if (pid == 0) {
            int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ::dup2(fd, STDOUT_FILENO);
            ::dup2(fd, STDERR_FILENO);
            int null = ::open("/dev/null", O_RDONLY);
            ::dup2(null, STDIN_FILENO);
            vmm::testing::exec_or_exit(command);
        }
        return pid;
    }

    // Waits until the container's processes include one running `program`
    // (what the trap installs is in place once the loop's sleep runs).
    bool wait_for_process(std::string const& id, std::string const& program)
    {
        for (int attempt = 0; attempt < 250; ++attempt) {
            auto listed = run({ "ps", "--format", "json", id });
            if (listed.exit_status == 0) {
                for (auto pid : nlohmann::json::parse(listed.standard_output)) {
                    if (read_text("/proc/" + std::to_string(pid.get<int>()) + "/cmdline").starts_with(program))
                        return true;
                }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }
};

// The trapping shell's `sleep 0.1`, as /proc/PID/cmdline has it.
std::string const loop_sleep("sleep\0" "0.1", 9);

// A shell that ends with `status` on SIGTERM (PID 1 of a PID namespace
// ignores a signal it has no handler for).
std::vector<std::string> trapping_shell(int status)
{
    return { "sh", "-c", "trap 'exit " + std::to_string(status) + "' TERM; while true; do sleep 0.1; done" };
}

}

TEST_F(OciSignalProxyTest, RunForwardsSigtermAndExitsWithTheContainersStatus)
{
    write_config(default_config(trapping_shell(7)));
    m_created.push_back("proxied");
    pid_t runtime = start_runtime({ "run", "--bundle", bundle(), "proxied" });
    ASSERT_TRUE(wait_for_process("proxied", loop_sleep));
    ASSERT_EQ(::kill(runtime, SIGTERM), 0);
    // Without the proxy the runtime died of the signal (143) and the
    // container went on running.
    EXPECT_EQ(vmm::testing::wait_or_kill(runtime, std::chrono::seconds(20)), 7) << read_text(m_scratch + "/background.out");
    expect_nothing_left("proxied", "vmm-oci/proxied");
}

TEST_F(OciSignalProxyTest, ExecForwardsSignalsToItsProcess)
{
    write_config(default_config({ "sleep", "1000" }));
    ASSERT_EQ(run({ "run", "--detach", "--bundle", bundle(), "host" }).exit_status, 0);
    auto command = std::vector<std::string> { "exec", "host" };
    for (auto const& argument : trapping_shell(9))
        command.push_back(argument);
    pid_t runtime = start_runtime(command);
    ASSERT_TRUE(wait_for_process("host", loop_sleep));
    ASSERT_EQ(::kill(runtime, SIGTERM), 0);
    EXPECT_EQ(vmm::testing::wait_or_kill(runtime, std::chrono::seconds(20)), 9) << read_text(m_scratch + "/background.out");
    // Only the sleeper is left: the exec'd shell ended.
    auto listed = run({ "ps", "--format", "json", "host" });
    ASSERT_EQ(listed.exit_status, 0) << describe(listed);
    EXPECT_EQ(nlohmann::json::parse(listed.standard_output).size(), 1u) << listed.standard_output;
}

}
