// What a vmm killed by SIGKILL leaves, and how the next runs deal with it:
// its container dies with it (also after the credential change of
// --rootless, which clears the parent-death signal), a container that
// outlived its vmm anyway is ended by the next run's sweep, and runs that
// sweep the same stale layer at once do not warn about each other.

#include "tests/container/ContainerTestSupport.h"

#include <filesystem>
#include <fstream>

using namespace container_test;

namespace {

// A PID that no process has now (a child's, reaped).
pid_t unused_pid()
{
    pid_t pid = ::fork();
    if (pid == 0)
        ::_exit(0);
    ::waitpid(pid, nullptr, 0);
    return pid;
}

// Processes whose command line is exactly `arguments`.
int processes_running(std::vector<std::string> const& arguments)
{
    std::string wanted;
    for (auto const& argument : arguments)
        wanted += argument + '\0';
    int count = 0;
    std::error_code error;
    for (auto const& entry : std::filesystem::directory_iterator("/proc", error)) {
        std::ifstream file(entry.path() / "cmdline");
        std::string command_line((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        count += command_line == wanted;
    }
    return count;
}

// The cgroup directories of the container cgroup `name` (v2: one; v1: one
// per hierarchy vmm uses).
std::vector<std::string> cgroup_directories(std::string const& name)
{
    if (path_exists("/sys/fs/cgroup/cgroup.controllers"))
        return { "/sys/fs/cgroup/" + name };
    std::vector<std::string> directories;
    for (auto const* controller : { "memory", "cpu", "pids", "devices" }) {
        if (path_exists(std::string("/sys/fs/cgroup/") + controller))
            directories.push_back(std::string("/sys/fs/cgroup/") + controller + "/" + name);
    }
    return directories;
}

class LeftoversTest : public ContainerTest { };

// setresuid into the user namespace's root cleared PR_SET_PDEATHSIG: the
// container outlived vmm as uid 524288 and held its cgroup and image.
TEST_F(LeftoversTest, ARootlessContainerDiesWithItsVmm)
{
    for (auto const& rootfs : { rootfs_directory, image() }) {
        std::vector<std::string> const sleeper { "sleep", "987651" };
        pid_t pid = start_vmm_until_output({ "--container", rootfs, "--rootless", "--", "/bin/sh", "-c", "echo ready; exec sleep 987651" });
        ASSERT_GT(pid, 0);
        // "ready" comes just before the exec of the sleeper.
        for (int attempt = 0; attempt < 50 && processes_running(sleeper) == 0; ++attempt)
            ::usleep(100000);
        EXPECT_EQ(processes_running(sleeper), 1) << "the test shows nothing";
        ::kill(pid, SIGKILL);
        ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
        for (int attempt = 0; attempt < 50 && processes_running(sleeper) > 0; ++attempt)
            ::usleep(100000);
        EXPECT_EQ(processes_running(sleeper), 0) << rootfs << ": the container outlived vmm";
        // The next run finds the image free, and sweeps the cgroup. The
        // image is released when the dead container's mount namespace is
        // torn down, just after its last process is gone: a run in between
        // is told it is in use, truthfully.
        auto next = run_shell(rootfs, "true");
        for (int attempt = 0; attempt < 50 && next.standard_error.find("is in use") != std::string::npos; ++attempt) {
            ::usleep(100000);
            next = run_shell(rootfs, "true");
        }
        EXPECT_EQ(next.exit_status, 0) << describe(next);
    }
}

// A container that outlived its vmm anyway (as with earlier versions) holds
// its stale cgroup: the next run's sweep ends it and removes the cgroup.
TEST_F(LeftoversTest, TheSweepEndsAContainerThatOutlivedItsVmm)
{
    auto const name = "vmm-container-" + std::to_string(unused_pid());
    auto const directories = cgroup_directories(name);
    ASSERT_FALSE(directories.empty());
    pid_t orphan = ::fork();
    if (orphan == 0) {
        for (;;)
            ::pause();
    }
    for (auto const& directory : directories) {
        ASSERT_EQ(::mkdir(directory.c_str(), 0755), 0) << directory;
        std::ofstream(directory + "/cgroup.procs") << orphan << std::flush;
    }

    auto result = run_shell(rootfs_directory, "true");
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    int status = 0;
    for (int attempt = 0; attempt < 50 && ::waitpid(orphan, &status, WNOHANG) == 0; ++attempt)
        ::usleep(100000);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the stale cgroup's process was not ended";
    for (auto const& directory : directories) {
        EXPECT_FALSE(path_exists(directory)) << directory;
        ::kill(orphan, SIGKILL);
        ::rmdir(directory.c_str());
    }
    ::waitpid(orphan, nullptr, WNOHANG);
}

// Runs that sweep the same stale layer at once: what one removes under
// another's walk is no error, and the layer is gone.
TEST_F(LeftoversTest, ConcurrentSweepsOfOneLayerDoNotWarn)
{
    for (int round = 0; round < 3; ++round) {
        auto const layer = "/var/lib/vmm/containers/" + std::to_string(unused_pid());
        // Filled aside and moved into place: a vmm run of another test could
        // sweep the dead PID's layer while its files are being made.
        auto const staging = "/var/lib/vmm/test-layer-" + std::to_string(::getpid());
        ASSERT_EQ(std::system(("rm -rf " + staging + " && mkdir -p " + staging + "/upper/many && cd " + staging + "/upper/many && seq 3000 | xargs touch && mv "
                                  + staging + " " + layer)
                                  .c_str()),
            0);
        auto const errors = scratch_directory() + "/sweep-errors";
        std::string const script = "for i in 1 2 3; do " + vmm_binary + " --container " + rootfs_directory + " -- true 2>" + errors
            + ".$i & done; wait; cat " + errors + ".*; rm -f " + errors + ".*";
        auto result = vmm::testing::run_process({ "/bin/sh", "-c", script }, 60);
        EXPECT_EQ(result.exit_status, 0) << result.output;
        EXPECT_EQ(result.output, "") << "round " << round;
        EXPECT_FALSE(path_exists(layer));
    }
}

}
