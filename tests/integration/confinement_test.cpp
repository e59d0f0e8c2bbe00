// vmm boot confined: once the machine is set up it holds no capabilities,
// has no_new_privs, and every thread runs under the seccomp filter of its
// kind; a forbidden system call from any of them ends vmm with a message.
#include "tests/support/ProcStatus.h"
#include "tests/support/Subprocess.h"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace std::chrono_literals;
using vmm::testing::can_open_read_write;
using vmm::testing::run_process;
using vmm::testing::status_field;

namespace {

std::string const vmm_binary = VMM_BUILD_DIR "/vmm";
std::string const spin_guest = VMM_BUILD_DIR "/test-guests/spin.bin";
constexpr int forbidden_syscall_status = 128 + SIGSYS;

// A small disk for the runs that need a virtio-blk queue thread (a disk and two vCPUs: two queues).
std::string scratch_disk()
{
    auto const path = std::filesystem::temp_directory_path() / ("vmm-confinement-disk-" + std::to_string(getpid()) + ".img");
    std::ofstream(path).close();
    std::filesystem::resize_file(path, 1 << 20);
    return path.string();
}

class ForbiddenCall : public ::testing::TestWithParam<std::pair<char const*, char const*>> {
};

}

TEST_P(ForbiddenCall, EndsVmmAndNamesTheCallAndTheThread)
{
    if (!can_open_read_write("/dev/kvm"))
        GTEST_SKIP() << "this host has no usable /dev/kvm";
    auto const [hook, thread_name] = GetParam();
    std::vector<std::string> command { vmm_binary, "boot", spin_guest };
    std::string disk;
    if (std::string(hook) == "blk-queue") {
        disk = scratch_disk();
        command.insert(command.end(), { "--cpus", "2", "--disk", disk + ",ro" });
    }
    setenv("VMM_TEST_FORBIDDEN_SYSCALL", hook, 1);
    auto const result = run_process(command, 20);
    unsetenv("VMM_TEST_FORBIDDEN_SYSCALL");
    if (!disk.empty())
        std::filesystem::remove(disk);
    if (result.output.find("vmm: test hook:") == std::string::npos && result.timed_out)
        GTEST_SKIP() << "vmm was built without the seccomp test hook (a Release build)";
    EXPECT_NE(result.output.find("vmm: test hook: this thread opens /etc/passwd"), std::string::npos) << result.output;
    EXPECT_EQ(result.exit_status, forbidden_syscall_status) << result.output;
    EXPECT_NE(result.output.find(std::string("vmm: seccomp: the ") + thread_name + " thread made a forbidden system call, openat ("),
        std::string::npos)
        << result.output;
}

INSTANTIATE_TEST_SUITE_P(ThreadKinds, ForbiddenCall,
    ::testing::Values(std::pair { "vcpu", "vCPU" }, std::pair { "io", "I/O" }, std::pair { "blk-queue", "virtio-blk queue" }),
    [](auto const& info) {
        std::string name = info.param.first;
        std::erase(name, '-');
        return name;
    });

TEST(Confinement, RunningVmmHasNoCapabilitiesAndEveryThreadAFilter)
{
    if (!can_open_read_write("/dev/kvm"))
        GTEST_SKIP() << "this host has no usable /dev/kvm";
    // Two vCPUs and a disk with a queue each: queue 1 has its own thread.
    auto const disk = scratch_disk();
    pid_t const pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0)
        vmm::testing::exec_or_exit({ vmm_binary, "boot", "--cpus", "2", "--disk", disk + ",ro", spin_guest });

    // Whatever happens below, vmm does not outlive the test.
    struct Reaper {
        pid_t pid;
        int status { -1 };
        std::string disk;
        ~Reaper()
        {
            if (status < 0) {
                kill(pid, SIGKILL);
                waitpid(pid, nullptr, 0);
            }
            std::filesystem::remove(disk);
        }
    } reaper { pid, -1, disk };

    // Running: the main thread, two vCPU threads and the disk's queue 1
    // thread, each under its filter. KVM's own worker
    // (kvm-nx-lpage-recovery) is a task of the process on recent kernels,
    // and io_uring's workers (iou-wrk-N) are the kernel's: not vmm's code.
    std::filesystem::path const process = "/proc/" + std::to_string(pid);
    std::vector<std::filesystem::path> tasks;
    for (int tick = 0; tick < 200; ++tick) {
        tasks.clear();
        std::error_code error;
        for (auto const& entry : std::filesystem::directory_iterator(process / "task", error)) {
            std::ifstream comm(entry.path() / "comm");
            std::string name;
            std::getline(comm, name);
            if (name.rfind("kvm-", 0) != 0 && name.rfind("iou-", 0) != 0)
                tasks.push_back(entry.path());
        }
        bool all_filtered = tasks.size() == 4;
        for (auto const& task : tasks)
            all_filtered = all_filtered && status_field(task / "status", "Seccomp:") == "2";
        if (all_filtered)
            break;
        std::this_thread::sleep_for(25ms);
    }
    ASSERT_EQ(tasks.size(), 4u);
    for (auto const& task : tasks) {
        EXPECT_EQ(status_field(task / "status", "Seccomp:"), "2") << task << " runs in seccomp filter mode";
        EXPECT_EQ(status_field(task / "status", "Seccomp_filters:"), "1") << task << " has exactly its own filter";
        EXPECT_EQ(status_field(task / "status", "CapEff:"), "0000000000000000") << task;
        EXPECT_EQ(status_field(task / "status", "CapPrm:"), "0000000000000000") << task;
        EXPECT_EQ(status_field(task / "status", "NoNewPrivs:"), "1") << task;
    }
    // The bounding set can only shrink with CAP_SETPCAP, which root has.
    if (geteuid() == 0) {
        EXPECT_EQ(status_field(process / "status", "CapBnd:"), "0000000000000000");
    }

    kill(pid, SIGTERM);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    reaper.status = status;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM) << "it still stops cleanly: status " << status;
}
