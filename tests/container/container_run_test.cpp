// Functional tests of `vmm --container`: exit statuses, the isolation a
// command sees, and the directory and ext4-image rootfs behaving the same.

#include "guest/protocol.h"
#include "tests/container/ContainerTestSupport.h"
#include "tests/support/ProcStatus.h"

#include <fstream>
#include <iterator>
#include <sched.h>

using namespace container_test;

namespace {

class ContainerRunTest : public ContainerTest { };

TEST_F(ContainerRunTest, TrueExitsZero)
{
    auto result = run_vmm({ "--container", rootfs_directory, "--", "/bin/true" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output + result.standard_error, "") << "a run prints only the command's output";
}

TEST_F(ContainerRunTest, StdoutAndStderrStaySeparateAndStdinIsPiped)
{
    auto result = run_shell(rootfs_directory, "echo out; echo err >&2");
    EXPECT_EQ(result.standard_output, "out\n") << describe(result);
    EXPECT_EQ(result.standard_error, "err\n") << describe(result);
    auto counted = run_vmm({ "--container", rootfs_directory, "--", "wc", "-l" }, 60, -1, "a\nb\n");
    EXPECT_EQ(counted.exit_status, 0) << describe(counted);
    EXPECT_EQ(counted.standard_output, "2\n") << describe(counted);
}

// vmm is one static executable where every library it links is an archive
// (cli/CMakeLists.txt), and libnftables with the five libraries it needs
// runs in vmm-nft, started only when `--net bridge` needs NAT or a published
// port: a plain start loads no shared library at all; where vmm is linked to
// libc.so, that alone (fmt, spdlog, libstdc++ and libm are linked in).
TEST_F(ContainerRunTest, APlainStartLoadsNoSharedLibraryButTheCLibrary)
{
    ::setenv("LD_DEBUG", "files", 1);
    auto result = run_vmm({ "--container", rootfs_directory, "--", "/bin/true" });
    ::unsetenv("LD_DEBUG");
    EXPECT_EQ(result.exit_status, 0) << describe(result);
#ifdef VMM_STATIC_PIE
    EXPECT_EQ(result.standard_error.find("file="), std::string::npos) << "vmm loaded a shared library:\n" << describe(result);
#else
    EXPECT_NE(result.standard_error.find("file=libc.so.6"), std::string::npos) << "the loader's trace is missing:\n" << describe(result);
#endif
    for (auto const* library : { "libnftables", "libstdc++", "libfmt", "libspdlog", "libgcc_s", "libm.so" })
        EXPECT_EQ(result.standard_error.find(library), std::string::npos) << library << " was loaded:\n" << describe(result);
}

TEST_F(ContainerRunTest, TimingsReportTheBootMarker)
{
    auto result = run_vmm({ "--container", rootfs_directory, "--timings", "--", "/bin/true" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_NE(result.standard_error.find("vmm: boot marker (container) at "), std::string::npos) << describe(result);
    EXPECT_NE(result.standard_error.find("vmm: timings: boot marker "), std::string::npos) << describe(result);
}

TEST_F(ContainerRunTest, ExitStatusIsTheCommands)
{
    auto result = run_shell(rootfs_directory, "exit 7");
    EXPECT_EQ(result.exit_status, 7) << describe(result);
}

TEST_F(ContainerRunTest, KilledCommandReports128PlusSignal)
{
    auto result = run_shell(rootfs_directory, "kill -TERM $$");
    EXPECT_EQ(result.exit_status, 128 + SIGTERM) << describe(result);
}

TEST_F(ContainerRunTest, MissingCommandExits127)
{
    auto result = run_vmm({ "--container", rootfs_directory, "--", "/no/such/program" });
    EXPECT_EQ(result.exit_status, 127) << describe(result);
}

TEST_F(ContainerRunTest, NoCommandStartsAShell)
{
    // The shell reads its commands from standard input.
    auto result = run_vmm({ "--container", rootfs_directory }, 60, -1, "echo from-the-shell $$\nexit 4\n");
    EXPECT_EQ(result.exit_status, 4) << describe(result);
    EXPECT_EQ(result.standard_output, "from-the-shell 2\n") << describe(result);
}

TEST_F(ContainerRunTest, HostnameIsIsolated)
{
    char host_name[256] {};
    ASSERT_EQ(::gethostname(host_name, sizeof(host_name) - 1), 0);
    // Changing it needs CAP_SYS_ADMIN, which the container does not have.
    auto result = run_shell(rootfs_directory, "hostname; hostname changed 2>/dev/null || echo refused; hostname", { "--hostname", "box1" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "box1\nrefused\nbox1\n") << describe(result);
    char after[256] {};
    ASSERT_EQ(::gethostname(after, sizeof(after) - 1), 0);
    EXPECT_STREQ(after, host_name) << "the container changed the host's hostname";
}

TEST_F(ContainerRunTest, InitIsPidOneAndTheCommandItsChild)
{
    auto result = run_shell(rootfs_directory, "echo $$ $PPID; cat /proc/1/cmdline | tr '\\0' ' '");
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output.substr(0, 4), "2 1\n") << describe(result);
    EXPECT_NE(result.standard_output.find("vmm-init " VMM_CONTAINER_OPTION " " VMM_MARKER_FD_OPTION), std::string::npos) << describe(result);
}

// vmm keeps its child off its own CPU while both set up (ChildPlacement in
// container/ContainerProcess.h): the container's processes still get every
// CPU vmm may use, no more and no fewer.
TEST_F(ContainerRunTest, TheCommandMayUseEveryCpuVmmMay)
{
    auto const script = "grep Cpus_allowed_list /proc/1/status /proc/self/status | cut -f2";
    auto const every = vmm::testing::status_field("/proc/self/status", "Cpus_allowed_list:");
    ASSERT_FALSE(every.empty()) << "no Cpus_allowed_list in /proc/self/status";
    auto result = run_shell(rootfs_directory, script);
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, every + "\n" + every + "\n") << describe(result);

    // Started with one CPU, vmm has none to move its child to.
    cpu_set_t original;
    ASSERT_EQ(::sched_getaffinity(0, sizeof(original), &original), 0);
    int first = 0;
    while (!CPU_ISSET(first, &original))
        ++first;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ASSERT_EQ(::sched_setaffinity(0, sizeof(one), &one), 0);
    auto narrowed = run_shell(rootfs_directory, script);
    ASSERT_EQ(::sched_setaffinity(0, sizeof(original), &original), 0);
    EXPECT_EQ(narrowed.exit_status, 0) << describe(narrowed);
    auto const single = std::to_string(first);
    EXPECT_EQ(narrowed.standard_output, single + "\n" + single + "\n") << describe(narrowed);
}

TEST_F(ContainerRunTest, HostProcessesAreInvisible)
{
    // The container sees init, the shell and ps: nothing of the host.
    auto result = run_shell(rootfs_directory, "ls -d /proc/[0-9]* | wc -l; test -e /proc/" + std::to_string(::getpid()) + " && echo host-visible; true");
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    int processes = std::atoi(result.standard_output.c_str());
    EXPECT_GE(processes, 2) << describe(result);
    EXPECT_LE(processes, 4) << describe(result);
    EXPECT_EQ(result.standard_output.find("host-visible"), std::string::npos) << describe(result);
}

TEST_F(ContainerRunTest, NetworkHasOnlyLoopbackUp)
{
    auto result = run_shell(rootfs_directory, "ls /sys/class/net; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags");
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    // lo alone; IFF_UP (0x1) set in its flags.
    EXPECT_EQ(result.standard_output.substr(0, 3), "lo\n") << describe(result);
    auto flags_line = result.standard_output.substr(result.standard_output.rfind("0x"));
    EXPECT_TRUE(std::stoul(flags_line, nullptr, 16) & 1) << describe(result);
}

TEST_F(ContainerRunTest, NetHostSharesTheHostsInterfaces)
{
    auto count_host = run_shell(rootfs_directory, "ls /sys/class/net | wc -l", { "--net", "host" });
    EXPECT_EQ(count_host.exit_status, 0) << describe(count_host);
    int host_interfaces = 0;
    if (DIR* directory = ::opendir("/sys/class/net")) {
        while (auto* entry = ::readdir(directory))
            host_interfaces += entry->d_name[0] != '.';
        ::closedir(directory);
    }
    EXPECT_EQ(std::atoi(count_host.standard_output.c_str()), host_interfaces) << describe(count_host);
    // And the host's resolver configuration, which the host's network reaches.
    std::ifstream host_file("/etc/resolv.conf");
    std::string const host_resolver((std::istreambuf_iterator<char>(host_file)), std::istreambuf_iterator<char>());
    if (host_resolver.empty())
        GTEST_SKIP() << "this host has no /etc/resolv.conf to compare";
    EXPECT_EQ(run_shell(rootfs_directory, "cat /etc/resolv.conf", { "--net", "host" }).standard_output, host_resolver);
    EXPECT_EQ(run_shell(rootfs_directory, "cat /etc/resolv.conf").standard_output, "") << "the tree's own file without --net host";
}

TEST_F(ContainerRunTest, MinimalEnvironment)
{
    ::setenv("VMM_TEST_SECRET", "leaked", 1);
    auto result = run_shell(rootfs_directory, "env");
    ::unsetenv("VMM_TEST_SECRET");
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output.find("VMM_TEST_SECRET"), std::string::npos) << describe(result);
    EXPECT_NE(result.standard_output.find("PATH=/usr/local/sbin:"), std::string::npos) << describe(result);
}

TEST_F(ContainerRunTest, DevHasTheStandardDevices)
{
    auto result = run_shell(rootfs_directory,
        "for device in null zero full random urandom tty; do test -c /dev/$device || echo missing $device; done;"
        "test -c /dev/pts/ptmx || echo missing ptmx; test -L /dev/fd || echo missing fd;"
        "test -d /dev/shm || echo missing shm; echo data > /dev/null; head -c 4 /dev/zero | wc -c");
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "4\n") << describe(result);
}

// The same script gives the same answers from the directory and the image.
TEST_F(ContainerRunTest, DirectoryAndImageBehaveTheSame)
{
    std::string const script = "echo $$; hostname; ls /; id -u; grep -c . /etc/passwd; exit 3";
    auto from_directory = run_shell(rootfs_directory, script);
    auto from_image = run_shell(image(), script);
    EXPECT_EQ(from_directory.exit_status, 3) << describe(from_directory);
    EXPECT_EQ(from_image.exit_status, 3) << describe(from_image);
    // The image has lost+found, mke2fs's own directory; otherwise the same.
    auto image_output = from_image.standard_output;
    auto lost_and_found = image_output.find("lost+found\n");
    ASSERT_NE(lost_and_found, std::string::npos) << describe(from_image);
    image_output.erase(lost_and_found, std::string("lost+found\n").size());
    EXPECT_EQ(from_directory.standard_output, image_output);
}

TEST_F(ContainerRunTest, ImageRootIsTheImage)
{
    auto result = run_shell(image(), "grep ' / ' /proc/mounts");
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_NE(result.standard_output.find("/dev/loop"), std::string::npos) << describe(result);
    EXPECT_NE(result.standard_output.find("ext4"), std::string::npos) << describe(result);
}

TEST_F(ContainerRunTest, LimitsAreAccepted)
{
    auto result = run_shell(rootfs_directory, "exit 0", { "--mem", "64M", "--cpus", "0.5", "--pids", "32" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
}

TEST_F(ContainerRunTest, TheProcessLimitsRefusalsAreNamedInANote)
{
    // Four sleeps fit under --pids 5 beside the shell; the rest are refused.
    auto refused = run_shell(rootfs_directory, "for i in 1 2 3 4 5 6; do sleep 2 & done; wait; exit 2", { "--pids", "5" });
    EXPECT_EQ(refused.exit_status, 2) << describe(refused);
    EXPECT_NE(refused.standard_error.find("can't fork"), std::string::npos) << describe(refused);
    EXPECT_NE(refused.standard_error.find("vmm: note: the container reached its limit of 5 processes: the kernel refused 1 fork\n"), std::string::npos)
        << describe(refused);
}

TEST_F(ContainerRunTest, OutOfMemoryKillsAreNamedInANote)
{
    // The string doubles until the 16 MiB limit ends the shell: 137, and
    // a note that says why.
    auto killed = run_shell(rootfs_directory, "x=a; while true; do x=$x$x; done", { "--mem", "16M" });
    EXPECT_EQ(killed.exit_status, 128 + SIGKILL) << describe(killed);
    EXPECT_NE(killed.standard_error.find("vmm: note: the container ran out of memory (its limit is 16.0 MiB): "
                                         "the kernel's out-of-memory killer ended 1 of its processes\n"),
        std::string::npos)
        << describe(killed);
    // The same in a subshell: the command goes on, and the note still comes
    // with its failure.
    auto survived = run_shell(rootfs_directory, "(x=a; while true; do x=$x$x; done); echo survived; exit 3", { "--mem", "16M" });
    EXPECT_EQ(survived.exit_status, 3) << describe(survived);
    EXPECT_EQ(survived.standard_output, "survived\n") << describe(survived);
    EXPECT_NE(survived.standard_error.find("out-of-memory killer ended 1 of its processes"), std::string::npos) << describe(survived);
    // A failure within the limit gets none.
    auto failed = run_shell(rootfs_directory, "exit 3", { "--mem", "16M" });
    EXPECT_EQ(failed.exit_status, 3) << describe(failed);
    EXPECT_EQ(failed.standard_error, "") << describe(failed);
}

TEST_F(ContainerRunTest, CgroupNamespaceHidesTheHostPath)
{
    auto result = run_shell(rootfs_directory, "cat /proc/self/cgroup", { "--mem", "64M" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output.find("vmm-container"), std::string::npos) << describe(result);
}

TEST_F(ContainerRunTest, SigtermIsForwardedToTheContainer)
{
    // vmm forwards SIGTERM to init, which forwards it to the command.
    pid_t pid = start_vmm_until_output({ "--container", rootfs_directory, "--", "/bin/sh", "-c", "trap 'exit 42' TERM; echo ready; while true; do sleep 0.1; done" });
    ASSERT_GT(pid, 0);
    ::kill(pid, SIGTERM);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 42);
}

// A hang-up of vmm's terminal (or kill -HUP) and SIGQUIT reach the command
// too: vmm forwards them to init, which as PID 1 would drop a signal it does
// not pass on.
TEST_F(ContainerRunTest, SighupAndSigquitAreForwardedToTheContainer)
{
    // And a daemon's SIGUSR1 and SIGUSR2 (reopen the logs, ...), as docker
    // run passes them on.
    for (auto [name, number] : { std::pair { "HUP", SIGHUP }, std::pair { "QUIT", SIGQUIT }, std::pair { "USR1", SIGUSR1 }, std::pair { "USR2", SIGUSR2 } }) {
        auto const script = std::string("trap 'exit 42' ") + name + "; echo ready; while true; do sleep 0.1; done";
        pid_t pid = start_vmm_until_output({ "--container", rootfs_directory, "--", "/bin/sh", "-c", script });
        ASSERT_GT(pid, 0) << name;
        ::kill(pid, number);
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid) << name;
        ASSERT_TRUE(WIFEXITED(status)) << name;
        EXPECT_EQ(WEXITSTATUS(status), 42) << name;
    }
}

// Without root, the same container runs in a user namespace that maps root
// to the caller: here nobody (65534).
TEST_F(ContainerRunTest, RootlessAsNobody)
{
    auto result = run_vmm({ "--container", rootfs_directory, "--", "/bin/sh", "-c", "id -u; cat /proc/self/uid_map; echo x > /dev/null; ls /proc/1/ >/dev/null && echo ok" }, 60, 65534);
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_NE(result.standard_output.find("0\n"), std::string::npos) << describe(result);
    EXPECT_NE(result.standard_output.find("65534"), std::string::npos) << describe(result);
    EXPECT_NE(result.standard_output.find("ok"), std::string::npos) << describe(result);
}

}

TEST_F(ContainerRunTest, ForeignTreeRunsAsDirectoryAndImageUnchanged)
{
    auto tree = make_foreign_tree(scratch_directory() + "/foreign");
    ASSERT_FALSE(tree.empty());
    auto const image_path = scratch_directory() + "/foreign.ext4";
    ASSERT_EQ(std::system(("mke2fs -q -t ext4 -d " + tree + " -F " + image_path + " 64M").c_str()), 0);
    auto listing = [&] {
        auto result = vmm::testing::run_process({ "sh", "-c", "cd " + tree + " && find . -exec stat -c '%n %f %Y %s' {} +" });
        return result.output;
    };
    auto const before = listing();
    std::string const script = "cat /etc/os-release; echo \"$0\"; exit 4";
    for (auto const& rootfs : { tree, image_path }) {
        auto result = run_vmm({ "--container", rootfs, "--", "/bin/bash", "-c", script });
        EXPECT_EQ(result.exit_status, 4) << describe(result);
        EXPECT_EQ(result.standard_output, "PRETTY_NAME=\"Foreign Linux 1.0\"\n/bin/bash\n") << describe(result);
        EXPECT_EQ(result.standard_error, "") << describe(result);
    }
    // Without a command: the tree's shell (bash here, as it has no /bin/sh).
    auto shell = run_vmm({ "--container", tree }, 60, -1, "echo ${BASH_VERSION:0:1}; exit 5\n");
    EXPECT_EQ(shell.exit_status, 5) << describe(shell);
    EXPECT_EQ(shell.standard_output, "5\n") << describe(shell);
    EXPECT_EQ(listing(), before) << "a run changed the user's tree";
}
