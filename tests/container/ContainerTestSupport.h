#pragma once

// Helpers shared by the container tests: run the vmm binary with a timeout
// and capture what it prints, find the test rootfs, and snapshot the host's
// mount table and cgroup trees to prove that nothing was left behind.

#include "tests/support/Subprocess.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace container_test {

inline std::string const vmm_binary = VMM_BUILD_DIR "/vmm";
inline std::string const rootfs_directory = VMM_BUILD_DIR "/guest/rootfs";
inline std::string const rootfs_image = VMM_BUILD_DIR "/guest/rootfs.ext4";

// The PIDs of every vmm this test binary started: each names its cgroup
// vmm-container-PID, which must be gone once it has exited.
inline std::vector<pid_t> started_vmm_pids;

struct RunResult {
    int exit_status { -1 }; // As a shell reports it; -1 if it timed out.
    std::string standard_output;
    std::string standard_error;
};

inline bool path_exists(std::string const& path)
{
    struct stat status {};
    return ::stat(path.c_str(), &status) == 0;
}

// Runs `vmm ARGUMENTS...` (optionally as `run_as_uid`, through setpriv) and
// kills it after `timeout_seconds`.
inline RunResult run_vmm(std::vector<std::string> const& arguments, int timeout_seconds = 60, int run_as_uid = -1, std::string const& input = {})
{
    std::vector<std::string> command;
    if (run_as_uid >= 0) {
        command = { "/usr/bin/setpriv", "--reuid=" + std::to_string(run_as_uid), "--regid=" + std::to_string(run_as_uid), "--clear-groups" };
    }
    command.push_back(vmm_binary);
    command.insert(command.end(), arguments.begin(), arguments.end());
    auto process = vmm::testing::run_process(command,
        { .timeout_seconds = timeout_seconds, .input = input, .streams = vmm::testing::OutputStreams::Separate });
    if (process.pid > 0)
        started_vmm_pids.push_back(process.pid);
    return { process.timed_out ? -1 : process.exit_status, std::move(process.output), std::move(process.error_output) };
}

// Starts `vmm ARGUMENTS...` in the background and returns its PID once its
// command has printed a first line (e.g. "ready"): the container is up.
inline pid_t start_vmm_until_output(std::vector<std::string> const& arguments)
{
    std::vector<std::string> command { vmm_binary };
    command.insert(command.end(), arguments.begin(), arguments.end());
    int output_pipe[2];
    if (::pipe2(output_pipe, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(output_pipe[1], 1);
        vmm::testing::exec_or_exit(command);
    }
    started_vmm_pids.push_back(pid);
    ::close(output_pipe[1]);
    char buffer[16] {};
    ssize_t length = ::read(output_pipe[0], buffer, sizeof(buffer) - 1);
    ::close(output_pipe[0]);
    return length > 0 ? pid : -1;
}

// `vmm --container ROOTFS [OPTIONS...] -- sh -c SCRIPT`.
inline RunResult run_shell(std::string const& rootfs, std::string const& script, std::vector<std::string> const& options = {})
{
    std::vector<std::string> arguments { "--container", rootfs };
    arguments.insert(arguments.end(), options.begin(), options.end());
    arguments.insert(arguments.end(), { "--", "/bin/sh", "-c", script });
    return run_vmm(arguments);
}

inline std::string describe(RunResult const& result)
{
    return "exit status " + std::to_string(result.exit_status) + "\n--- stdout:\n" + result.standard_output + "--- stderr:\n" + result.standard_error;
}

// The host's mount points (mountinfo field 5) where a leak from the runtime
// would show: the rootfs and the build directory, the test's scratch
// directory, /tmp (where an image is staged) and the API file systems. Other
// mounts are left out, as tests running in parallel may make their own.
inline std::multiset<std::string> host_mount_points(std::string const& scratch = {})
{
    auto relevant = [&](std::string const& mount_point) {
        auto starts_with = [&](std::string const& prefix) { return !prefix.empty() && mount_point.rfind(prefix, 0) == 0; };
        for (auto const* exact : { "/", "/tmp", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue" }) {
            if (mount_point == exact)
                return true;
        }
        return starts_with(VMM_BUILD_DIR) || starts_with(scratch) || starts_with("/proc/") || starts_with("/sys/firmware")
            || starts_with("/sys/devices/virtual/powercap");
    };
    std::ifstream file("/proc/self/mountinfo");
    std::multiset<std::string> mount_points;
    std::string line;
    while (std::getline(file, line)) {
        std::istringstream fields(line);
        std::string id, parent, device, root, mount_point;
        fields >> id >> parent >> device >> root >> mount_point;
        if (relevant(mount_point))
            mount_points.insert(mount_point);
    }
    return mount_points;
}

// The cgroups of the vmm processes this binary started that still exist,
// in the v1 hierarchies and in a v2 hierarchy alike.
inline std::vector<std::string> leftover_cgroups()
{
    std::vector<std::string> roots { "/sys/fs/cgroup" };
    if (DIR* handle = ::opendir("/sys/fs/cgroup")) {
        while (auto* entry = ::readdir(handle)) {
            if (entry->d_name[0] != '.')
                roots.push_back(std::string("/sys/fs/cgroup/") + entry->d_name);
        }
        ::closedir(handle);
    }
    std::vector<std::string> found;
    for (auto const& root : roots) {
        for (auto pid : started_vmm_pids) {
            auto path = root + "/vmm-container-" + std::to_string(pid);
            if (path_exists(path))
                found.push_back(path);
        }
    }
    return found;
}

// Loop devices bound to `image` (the kernel names the backing file in sysfs).
inline int loop_devices_backed_by(std::string const& image)
{
    char resolved[PATH_MAX];
    if (!::realpath(image.c_str(), resolved))
        return 0;
    int count = 0;
    for (int number = 0; number < 256; ++number) {
        std::ifstream file("/sys/block/loop" + std::to_string(number) + "/loop/backing_file");
        std::string backing;
        if (file && std::getline(file, backing) && backing == resolved)
            ++count;
    }
    return count;
}

// A tree made by another tool than ours: the host's own dynamically linked
// bash and cat with the libraries ldd names, and an /etc/os-release; no
// busybox, no /sbin/init, no /proc, /sys or /dev.
inline std::string make_foreign_tree(std::string const& tree)
{
    std::string const script = "set -e; rm -rf " + tree + "; mkdir -p " + tree + "/bin " + tree + "/etc; cp /bin/bash /bin/cat " + tree
        + "/bin/; for library in $(ldd /bin/bash /bin/cat | grep -o '/[^ ]*lib[^ ]*'); do mkdir -p " + tree + "$(dirname $library);"
        " cp -L $library " + tree + "$library; done; echo 'PRETTY_NAME=\"Foreign Linux 1.0\"' > " + tree + "/etc/os-release";
    return std::system(script.c_str()) == 0 ? tree : std::string();
}


// Base fixture: the tests run containers, which needs root, and the rootfs.
// Image tests use a private copy of the image, so that the loop device
// check sees only this binary's loop devices.
class ContainerTest : public ::testing::Test {
public:
    static void SetUpTestSuite()
    {
        if (::geteuid() != 0 || !path_exists(rootfs_image))
            return;
        s_private_directory = std::filesystem::temp_directory_path() / ("vmm-container-test-" + std::to_string(::getpid()));
        ::mkdir(s_private_directory.c_str(), 0755);
        s_private_image = s_private_directory + "/rootfs.ext4";
        auto copy = "cp --sparse=always " + rootfs_image + " " + s_private_image;
        if (std::system(copy.c_str()) != 0)
            s_private_image.clear();
    }

    static void TearDownTestSuite()
    {
        if (s_private_directory.empty())
            return;
        std::system(("rm -rf " + s_private_directory).c_str());
        s_private_directory.clear();
    }

protected:
    void SetUp() override
    {
        if (::geteuid() != 0)
            GTEST_SKIP() << "running containers needs root (the rootless tests run as nobody from root)";
        ASSERT_TRUE(path_exists(rootfs_directory + "/sbin/init") && path_exists(rootfs_image))
            << "the test rootfs is missing: run guest/build-rootfs " VMM_BUILD_DIR "/guest/init " VMM_BUILD_DIR;
        ASSERT_FALSE(s_private_image.empty()) << "could not copy " << rootfs_image;
        m_mounts_before = host_mount_points(s_private_directory);
    }

    void TearDown() override
    {
        if (::geteuid() != 0 || HasFatalFailure())
            return;
        EXPECT_EQ(host_mount_points(s_private_directory), m_mounts_before) << "the host's mount table changed";
        EXPECT_EQ(leftover_cgroups(), std::vector<std::string> {}) << "a cgroup was left behind";
        for (auto pid : started_vmm_pids)
            EXPECT_FALSE(path_exists("/var/lib/vmm/containers/" + std::to_string(pid))) << "a writable layer was left behind";
        EXPECT_EQ(loop_devices_backed_by(s_private_image), 0) << "a loop device was left behind";
    }

    static std::string const& image() { return s_private_image; }
    static std::string const& scratch_directory() { return s_private_directory; }

private:
    std::multiset<std::string> m_mounts_before;
    static inline std::string s_private_directory;
    static inline std::string s_private_image;
};
}
