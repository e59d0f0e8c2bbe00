// The host escapes of issue 9, each as a test that failed before the fix:
// device nodes outside the allowlist, the host terminal, setuid and file
// capability copies on a shared tree, two writers of one image, and the
// cgroups a SIGKILLed vmm leaves. Run for root, for root with --rootless
// and for an unprivileged caller, with a directory and an image rootfs.

#include "tests/container/ContainerTestSupport.h"

#include <cerrno>
#include <filesystem>
#include <map>
#include <pty.h>
#include <termios.h>

using namespace container_test;

namespace {

enum class Caller {
    Root,
    RootRootless, // Root with --rootless: a user namespace on a subordinate range.
    Nobody,       // An unprivileged caller (uid 65534): always a user namespace.
};

enum class RootKind {
    Directory,
    Image,
};

class HostIsolationTest : public ContainerTest {
protected:
    RunResult run_as(Caller caller, std::string const& rootfs, std::vector<std::string> const& command)
    {
        std::vector<std::string> arguments { "--container", rootfs };
        if (caller == Caller::RootRootless)
            arguments.push_back("--rootless");
        arguments.push_back("--");
        arguments.insert(arguments.end(), command.begin(), command.end());
        return run_vmm(arguments, 60, caller == Caller::Nobody ? 65534 : -1);
    }
};

class DeviceAllowlistTest : public HostIsolationTest, public ::testing::WithParamInterface<std::tuple<Caller, RootKind>> {
protected:
    std::string rootfs() const { return std::get<1>(GetParam()) == RootKind::Image ? image() : rootfs_directory; }
};

// /dev/kmsg (c 1:11) writes into the host's kernel log; /dev/userfaultfd
// (c 10:257) gives userfaultfd around the seccomp filter. Neither can be
// made and opened, while the allowlisted /dev/null (c 1:3) can be used.
TEST_P(DeviceAllowlistTest, NodesOutsideTheAllowlistCannotBeMadeOrOpened)
{
    auto [caller, kind] = GetParam();
    if (caller == Caller::Nobody && kind == RootKind::Image)
        GTEST_SKIP() << "an unprivileged caller cannot mount an ext4 image (refused with its own error)";
    for (auto const& [path, major, minor] : { std::tuple { "/dev/kmsg2", "1", "11" }, std::tuple { "/tmp/userfaultfd", "10", "257" }, std::tuple { "/tmp/disk", "254", "0" } }) {
        auto type = std::string(major) == "254" ? "b" : "c";
        auto result = run_as(caller, rootfs(), { "/usr/bin/container-probe", "mknod-open", path, type, major, minor });
        EXPECT_EQ(result.exit_status, EPERM) << path << "\n" << describe(result);
        EXPECT_NE(result.standard_output.find("errno 1 "), std::string::npos) << describe(result);
    }
    auto allowed = run_as(caller, rootfs(), { "/bin/sh", "-c", "echo data > /dev/null && head -c 3 /dev/zero | wc -c" });
    EXPECT_EQ(allowed.exit_status, 0) << describe(allowed);
    EXPECT_EQ(allowed.standard_output, "3\n") << describe(allowed);
}

INSTANTIATE_TEST_SUITE_P(Callers, DeviceAllowlistTest,
    ::testing::Combine(::testing::Values(Caller::Root, Caller::RootRootless, Caller::Nobody), ::testing::Values(RootKind::Directory, RootKind::Image)));

// The container's session and process group are its own (PID 1's, or the
// command's where init gives it one); before, both were vmm's, outside the
// PID namespace, where getsid and getpgid show 0.
TEST_F(HostIsolationTest, ContainerHasItsOwnSession)
{
    for (auto caller : { Caller::Root, Caller::Nobody }) {
        auto result = run_as(caller, rootfs_directory, { "/usr/bin/container-probe", "session" });
        EXPECT_EQ(result.exit_status, 0) << describe(result);
        EXPECT_EQ(result.standard_output.find("sid=0 "), std::string::npos) << describe(result);
        EXPECT_EQ(result.standard_output.find("pgid=0\n"), std::string::npos) << describe(result);
        EXPECT_NE(result.standard_output.find("sid="), std::string::npos) << describe(result);
    }
}

// vmm runs on a terminal that is its controlling terminal, as in a shell.
// The command tries to type a line into it (TIOCSTI) and to ptrace PID 1;
// both are refused and nothing reaches the terminal's input.
TEST_F(HostIsolationTest, TheHostTerminalCannotBeDriven)
{
    int master = -1;
    int slave = -1;
    ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
    termios modes {};
    ASSERT_EQ(::tcgetattr(slave, &modes), 0);
    ::cfmakeraw(&modes);
    ASSERT_EQ(::tcsetattr(slave, TCSANOW, &modes), 0);

    std::vector<std::string> command { vmm_binary, "--container", rootfs_directory, "--", "/bin/sh", "-c",
        "container-probe tiocsti 'echo injected'; container-probe ptrace-init" };
    pid_t pid = ::fork();
    if (pid == 0) {
        ::setsid();
        ::ioctl(slave, TIOCSCTTY, 0);
        ::dup2(slave, 0);
        ::dup2(slave, 1);
        ::dup2(slave, 2);
        vmm::testing::exec_or_exit(command);
    }
    started_vmm_pids.push_back(pid);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), EPERM) << "ptrace of PID 1 was not refused";

    std::string output;
    char buffer[512];
    ::fcntl(master, F_SETFL, O_NONBLOCK);
    for (ssize_t length; (length = ::read(master, buffer, sizeof(buffer))) > 0;)
        output.append(buffer, static_cast<size_t>(length));
    EXPECT_NE(output.find("tiocsti: errno"), std::string::npos) << output;
    EXPECT_EQ(output.find("tiocsti: errno 0 "), std::string::npos) << output;
    EXPECT_NE(output.find("ptrace: errno 1 "), std::string::npos) << output;
    // What TIOCSTI pushes is input: it would be read from the slave side.
    ::fcntl(slave, F_SETFL, O_NONBLOCK);
    EXPECT_LT(::read(slave, buffer, sizeof(buffer)), 0) << "the container typed into the host's terminal";
    ::close(master);
    ::close(slave);
}

// What each file of a tree is, for telling whether a run changed it.
std::map<std::string, std::string> snapshot_tree(std::string const& root)
{
    std::map<std::string, std::string> entries;
    for (auto const& entry : std::filesystem::recursive_directory_iterator(root)) {
        struct stat status {};
        if (::lstat(entry.path().c_str(), &status) < 0)
            continue;
        entries[entry.path().string()] = std::to_string(status.st_mode) + " " + std::to_string(status.st_uid) + " "
            + std::to_string(status.st_mtim.tv_sec) + "." + std::to_string(status.st_mtim.tv_nsec) + " " + std::to_string(status.st_size);
    }
    return entries;
}

// A setuid-root copy and a file with CAP_DAC_READ_SEARCH made inside gave a
// host user root's powers when the tree was written in place. Now they are
// made (inside) but never reach the tree: it is exactly as it was.
TEST_F(HostIsolationTest, SetuidAndCapabilityFilesNeverReachTheTree)
{
    auto before = snapshot_tree(rootfs_directory);
    for (auto caller : { Caller::Root, Caller::RootRootless, Caller::Nobody }) {
        auto result = run_as(caller, rootfs_directory, { "/bin/sh", "-c",
            "cp /bin/busybox /escape-suid && chmod 4755 /escape-suid && cp /bin/busybox /escape-caps"
            " && container-probe setcap /escape-caps && cp /bin/busybox /bin/escape && echo x > /etc/escape && rm /etc/passwd && ls -l /escape-suid" });
        if (caller == Caller::Nobody) {
            // Host root's files are not the unprivileged caller's: /bin and
            // /etc stay read-only to it; the copies at / are still made.
            EXPECT_NE(result.standard_output.find("setcap: errno 0 "), std::string::npos) << describe(result);
        } else {
            EXPECT_EQ(result.exit_status, 0) << describe(result);
            EXPECT_NE(result.standard_output.find("-rwsr-xr-x"), std::string::npos) << describe(result);
        }
        EXPECT_FALSE(path_exists(rootfs_directory + "/escape-suid"));
        EXPECT_FALSE(path_exists(rootfs_directory + "/escape-caps"));
    }
    EXPECT_EQ(snapshot_tree(rootfs_directory), before) << "a container run changed the rootfs directory";
}

// Two containers on one image mounted it twice and corrupted it; now the
// second is refused while the first runs, naming the holder's PID.
TEST_F(HostIsolationTest, ABusyImageIsRefused)
{
    pid_t pid = start_vmm_until_output({ "--container", image(), "--", "/bin/sh", "-c", "echo ready; sleep 3; echo first > /first" });
    ASSERT_GT(pid, 0);

    auto second = run_shell(image(), "echo second > /second");
    EXPECT_EQ(second.exit_status, 1) << describe(second);
    EXPECT_NE(second.standard_error.find("in use by PID " + std::to_string(pid)), std::string::npos) << describe(second);
    EXPECT_EQ(std::count(second.standard_error.begin(), second.standard_error.end(), '\n'), 1) << describe(second);

    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(std::system(("e2fsck -fn " + image() + " >/dev/null 2>&1").c_str()), 0) << "the image is corrupt";
}

// SIGKILL cannot be caught: the next run removes what the killed one left.
TEST_F(HostIsolationTest, TheNextRunSweepsTheCgroupsOfAKilledVmm)
{
    pid_t pid = start_vmm_until_output({ "--container", rootfs_directory, "--", "/bin/sh", "-c", "echo ready; sleep 30" });
    ASSERT_GT(pid, 0);
    ::kill(pid, SIGKILL);
    ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
    ASSERT_FALSE(leftover_cgroups().empty()) << "SIGKILL left nothing to sweep: the test shows nothing";
    auto const layer = "/var/lib/vmm/containers/" + std::to_string(pid);
    EXPECT_TRUE(path_exists(layer)) << "the killed container's writable layer";

    // The container's processes die with vmm (PDEATHSIG, then the PID
    // namespace); the sweep needs the cgroup empty.
    for (int attempt = 0; attempt < 50 && !leftover_cgroups().empty(); ++attempt) {
        auto result = run_shell(rootfs_directory, "true");
        EXPECT_EQ(result.exit_status, 0) << describe(result);
        if (!leftover_cgroups().empty())
            ::usleep(100000);
    }
    EXPECT_EQ(leftover_cgroups(), std::vector<std::string> {});
    EXPECT_FALSE(path_exists(layer)) << "the killed container's writable layer was not swept";
}

// An empty layer is kept for the next container; the work directory its
// last overlay mount left is moved aside and removed while the next
// container runs, so no pooled layer keeps it, and no data crosses over.
TEST_F(HostIsolationTest, PooledLayersComeBackEmptyWithoutTheirOldWorkDirectory)
{
    for (int run = 0; run < 3; ++run) {
        auto result = run_shell(rootfs_directory, "test ! -e /written-by-an-earlier-run && ls /tmp | wc -l");
        EXPECT_EQ(result.exit_status, 0) << describe(result);
        EXPECT_EQ(result.standard_output, "0\n") << describe(result);
    }
    std::string const pool = "/var/lib/vmm/containers/.pool";
    ASSERT_TRUE(path_exists(pool)) << "no layer was pooled";
    int pooled = 0;
    for (auto const& layer : std::filesystem::directory_iterator(pool)) {
        ++pooled;
        EXPECT_FALSE(path_exists(layer.path() / "stale-work")) << layer.path();
        EXPECT_TRUE(std::filesystem::is_empty(layer.path() / "upper")) << layer.path();
    }
    EXPECT_GT(pooled, 0);
    // A layer written to is removed, not pooled.
    auto written = run_shell(rootfs_directory, "echo x > /written-by-an-earlier-run");
    EXPECT_EQ(written.exit_status, 0) << describe(written);
    auto after = run_shell(rootfs_directory, "test ! -e /written-by-an-earlier-run");
    EXPECT_EQ(after.exit_status, 0) << describe(after);
}

// Root asking for --rootless gets what the flag promises: the container's
// root is an unprivileged host id (not root), and still owns its rootfs
// (seen through an idmapped mount), so it can work in it.
TEST_F(HostIsolationTest, RootlessAsRootMapsToAnUnprivilegedRange)
{
    for (auto const& rootfs : { rootfs_directory, image() }) {
        auto result = run_as(Caller::RootRootless, rootfs, { "/bin/sh", "-c",
            "awk '{print $1, $3}' /proc/self/uid_map; awk '$2 == 0 {print \"host-root\"}' /proc/self/uid_map; stat -c %U /etc; touch /etc/written && echo written" });
        EXPECT_EQ(result.exit_status, 0) << describe(result);
        EXPECT_EQ(result.standard_output, "0 65536\nroot\nwritten\n") << describe(result);
    }
}

// The mapped root (an unprivileged host id) may not look up a path under a
// 0700 directory of root's: the rootfs is attached through fds opened before
// the switch, so a tree there runs, in both ways of writing.
TEST_F(HostIsolationTest, RootlessAsRootRunsATreeUnderAPrivateDirectory)
{
    auto const parent = scratch_directory() + "/private-parent";
    auto const tree = parent + "/rootfs";
    ASSERT_EQ(std::system(("rm -rf " + parent + " && mkdir -m 700 " + parent + " && cp -aH " + rootfs_directory + " " + tree).c_str()), 0);
    for (auto const* writes : { "overlay", "in-place" }) {
        auto result = run_vmm({ "--container", tree, "--rootless", "--root-writes", writes, "--", "/bin/sh", "-c", "stat -c %U /etc" });
        EXPECT_EQ(result.exit_status, 0) << writes << "\n" << describe(result);
        EXPECT_EQ(result.standard_output, "root\n") << writes << "\n" << describe(result);
    }
    std::system(("rm -rf " + parent).c_str());
}

}
