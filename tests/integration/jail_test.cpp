// vmm boot --jail: the VMM runs in its own namespaces with a root that holds
// only its kernel, disks, /dev/kvm and /proc, and still boots and stops.
#include "tests/support/ProcStatus.h"
#include "tests/support/Subprocess.h"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <set>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace std::chrono_literals;
using vmm::testing::can_open_read_write;
using vmm::testing::first_line;
using vmm::testing::run_process;

namespace {

std::string const vmm_binary = VMM_BUILD_DIR "/vmm";
std::string const guests = VMM_BUILD_DIR "/test-guests/";

#define SKIP_UNLESS_ROOT_AND_KVM()                                              \
    do {                                                                        \
        if (!can_open_read_write("/dev/kvm"))                                   \
            GTEST_SKIP() << "this host has no usable /dev/kvm";                 \
        if (geteuid() != 0)                                                     \
            GTEST_SKIP() << "--jail needs root (namespaces and mounts)";        \
    } while (0)

// The jailed VMM is the child of the one started: its /proc directory once
// its vCPU runs, empty if none did within five seconds.
std::filesystem::path find_jailed_vmm(pid_t pid)
{
    for (int tick = 0; tick < 200; ++tick) {
        std::this_thread::sleep_for(25ms);
        auto const children = first_line("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
        if (children.empty())
            continue;
        std::filesystem::path const candidate = "/proc/" + children.substr(0, children.find(' '));
        if (first_line(candidate / "status").empty())
            continue;
        std::error_code error;
        if (std::distance(std::filesystem::directory_iterator(candidate / "task", error), {}) >= 2)
            return candidate;
    }
    return {};
}

}

TEST(Jail, TestGuestBootsAndReportsItsStatus)
{
    SKIP_UNLESS_ROOT_AND_KVM();
    auto const result = run_process({ vmm_binary, "boot", "--jail", guests + "serial_hello.bin" });
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("hello from the test guest\n"), std::string::npos) << result.output;
}

TEST(Jail, JailedVmmSeesOnlyItsFilesAndOwnNamespaces)
{
    SKIP_UNLESS_ROOT_AND_KVM();
    auto const disk = std::filesystem::temp_directory_path() / ("vmm-jail-disk-" + std::to_string(getpid()));
    {
        std::ofstream create(disk);
    }
    std::filesystem::resize_file(disk, 1 << 20);
    pid_t const pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0)
        vmm::testing::exec_or_exit({ vmm_binary, "boot", "--jail", guests + "spin.bin", "--disk", disk.string() + ",ro" });
    struct Reaper {
        pid_t pid;
        std::filesystem::path disk;
        bool reaped { false };
        ~Reaper()
        {
            if (!reaped) {
                kill(pid, SIGKILL);
                waitpid(pid, nullptr, 0);
            }
            std::error_code ignored;
            std::filesystem::remove(disk, ignored);
        }
    } reaper { pid, disk };

    auto const jailed = find_jailed_vmm(pid);
    ASSERT_FALSE(jailed.empty()) << "no jailed vmm with a running vCPU appeared";

    std::set<std::string> names;
    for (auto const& entry : std::filesystem::directory_iterator(jailed / "root"))
        names.insert(entry.path().filename().string());
    // A test guest boots without a ROOTFS: the one --disk is disk0.
    EXPECT_EQ(names, (std::set<std::string> { "dev", "disk0", "kernel", "proc" }));
    EXPECT_FALSE(std::filesystem::exists(jailed / "root/etc/passwd")) << "no host files in the jail";
    std::set<std::string> devices;
    for (auto const& entry : std::filesystem::directory_iterator(jailed / "root/dev"))
        devices.insert(entry.path().filename().string());
    EXPECT_EQ(devices, (std::set<std::string> { "kvm" }));
    for (auto const* name : { "mnt", "pid", "net", "ipc", "uts" }) {
        auto const ours = std::filesystem::read_symlink(std::filesystem::path("/proc/self/ns") / name);
        auto const theirs = std::filesystem::read_symlink(jailed / "ns" / name);
        EXPECT_NE(ours, theirs) << name << " namespace is the host's";
    }

    // In the jail's own cgroup, whose memory limit is guest RAM (512 MiB by
    // default) and vmm's 256 MiB allowance.
    std::ifstream cgroups(jailed / "cgroup");
    std::string line;
    std::filesystem::path memory_limit;
    std::string const name = "vmm-container-" + std::to_string(pid);
    while (std::getline(cgroups, line)) {
        auto const path = line.substr(line.find(':', line.find(':') + 1) + 1);
        if (path.find(name) == std::string::npos)
            continue;
        if (line.starts_with("0::"))
            memory_limit = "/sys/fs/cgroup" + path + "/memory.max";
        else if (line.find(":memory:") != std::string::npos)
            memory_limit = "/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes";
    }
    ASSERT_FALSE(memory_limit.empty()) << "the jailed vmm is not in cgroup " << name << ":\n" << first_line(jailed / "cgroup");
    EXPECT_EQ(first_line(memory_limit), std::to_string((512ull + 256) << 20)) << memory_limit;

    kill(pid, SIGTERM);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    reaper.reaped = true;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM) << "status " << status;
    EXPECT_FALSE(std::filesystem::exists(memory_limit.parent_path())) << "vmm removes the jail's cgroup";
}

// SIGKILL leaves the outer vmm no chance to stop the jailed one: the kernel
// does, through the parent-death signal the jailed vmm armed.
TEST(Jail, TheJailedVmmDiesWithItsParent)
{
    SKIP_UNLESS_ROOT_AND_KVM();
    pid_t const pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0)
        vmm::testing::exec_or_exit({ vmm_binary, "boot", "--jail", guests + "spin.bin" });
    auto const jailed = find_jailed_vmm(pid);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    ASSERT_FALSE(jailed.empty()) << "no jailed vmm with a running vCPU appeared";
    // Gone, or a zombie that init has yet to reap.
    auto running = [&] {
        auto const state = vmm::testing::status_field(jailed / "status", "State:");
        return !state.empty() && !state.starts_with("Z");
    };
    for (int tick = 0; tick < 200 && running(); ++tick)
        std::this_thread::sleep_for(25ms);
    EXPECT_FALSE(running()) << jailed << " outlived its parent";
}
