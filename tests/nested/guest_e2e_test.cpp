// vmm boot with a full guest (kernel, busybox userland, guest/init) on a real
// SVM KVM host: the nested one that scripts/nested-kvm runs under QEMU. The
// tests skip where that host is unavailable (the script exits 77).
#include "tests/support/NestedHost.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

using vmm::testing::guest_build_is_complete;
using vmm::testing::NestedRun;
using vmm::testing::nested_unavailable_status;
using vmm::testing::run_process;
using vmm::testing::ProcessResult;
using vmm::testing::run_nested;
using vmm::testing::run_nested_through_freezes;

namespace {

std::string expected_line(int run, int line)
{
    return "run-" + std::to_string(run) + "-line-" + std::to_string(line) + "-0123456789abcdef\n";
}

class NestedGuest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_TRUE(guest_build_is_complete());
        m_directory = std::filesystem::temp_directory_path() / ("vmm-nested-e2e-" + std::to_string(getpid()));
        std::filesystem::create_directories(m_directory);
    }
    void TearDown() override
    {
        std::error_code ignored;
        std::filesystem::remove_all(m_directory, ignored);
    }

    // Runs `vmm boot /bzImage /rootfs.ext4 VMM_OPTIONS -- GUEST_COMMAND` in the nested host.
    ProcessResult boot(std::vector<std::string> const& vmm_options, std::vector<std::string> const& guest_command,
        std::vector<std::string> const& nested_options = {})
    {
        std::vector<std::string> command { "/vmm", "boot", "/bzImage", "/rootfs.ext4" };
        command.insert(command.end(), vmm_options.begin(), vmm_options.end());
        command.push_back("--");
        command.insert(command.end(), guest_command.begin(), guest_command.end());
        auto result = run_nested({ .options = nested_options, .command = command });
        if (result.exit_status == nested_unavailable_status)
            m_skip_reason = "nested SVM KVM host unavailable: " + result.output;
        return result;
    }

    std::filesystem::path m_directory;
    std::string m_skip_reason;
};

#define SKIP_IF_UNAVAILABLE()                   \
    do {                                        \
        if (!m_skip_reason.empty())             \
            GTEST_SKIP() << m_skip_reason;      \
    } while (0)

}

TEST_F(NestedGuest, EchoHelloPrintsHelloAndExitsZero)
{
    auto const result = boot({ "--timings" }, { "echo", "hello" });
    SKIP_IF_UNAVAILABLE();
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("hello\n"), std::string::npos) << result.output;
    // init's boot marker reaches vmm through its port; only --timings shows it.
    EXPECT_NE(result.output.find("vmm: boot marker (vm) at "), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("vmm-init: boot marker"), std::string::npos) << result.output;
    // --timings also prints the vCPU's KVM statistics (a real SVM host has them).
    EXPECT_NE(result.output.find("vmm: vCPU 0: "), std::string::npos) << result.output;
    EXPECT_NE(result.output.find(", exits "), std::string::npos) << result.output;
}

TEST_F(NestedGuest, CommandExitStatusBecomesVmmsExitStatus)
{
    auto const result = boot({}, { "sh", "-c", "exit 3" });
    SKIP_IF_UNAVAILABLE();
    EXPECT_EQ(result.exit_status, 3) << result.output;
}

TEST_F(NestedGuest, TwoVcpusShowInProcCpuinfo)
{
    // The last line is the command's last output, written just before it exits.
    // The disk (virtio0) has a queue per vCPU (VIRTIO_BLK_F_MQ) and still reads (1 MiB
    // of /dev/vda past the page cache the root file system uses, from vCPU 1:
    // through queue 1, which vmm serves on its own thread) and writes.
    auto const result = boot({ "--cpus", "2" }, { "sh", "-c",
        "dmesg | grep -o 'virtio_blk virtio0: [0-9/]* default/read/poll queues'; "
        "echo vda-read=$(taskset 2 dd if=/dev/vda bs=4096 skip=1024 count=256 2>/dev/null | wc -c); "
        "echo two-queues > /root/mq && sync && echo vda-written=$(cat /root/mq); "
        "echo cpus=$(grep -c ^processor /proc/cpuinfo) host=$(hostname) lo=$(ip -o link show up | grep -c LOOPBACK)" });
    SKIP_IF_UNAVAILABLE();
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("virtio_blk virtio0: 2/0/0 default/read/poll queues\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("vda-read=1048576\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("vda-written=two-queues\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("cpus=2 "), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("host=vmm lo=1\n"), std::string::npos) << "hostname and loopback as in the container:\n" << result.output;
}

TEST_F(NestedGuest, FileWrittenOnVdaIsInTheImageAfterExit)
{
    auto const image = m_directory / "after.ext4";
    auto const result = boot({}, { "sh", "-c", "echo 'written by the guest' > /root/written && sync" },
        { "--fetch", "/rootfs.ext4:" + image.string() });
    SKIP_IF_UNAVAILABLE();
    ASSERT_EQ(result.exit_status, 0) << result.output;
    auto const read_back = run_process({ "debugfs", "-R", "cat /root/written", image.string() });
    EXPECT_NE(read_back.output.find("written by the guest\n"), std::string::npos) << read_back.output;
}

TEST_F(NestedGuest, ReadOnlyDiskRefusesWritesInTheGuest)
{
    auto const scratch = m_directory / "scratch.img";
    {
        std::ofstream create(scratch);
    }
    std::filesystem::resize_file(scratch, 1 << 20);
    // The same write, on a read-write then on a read-only second disk (/dev/vdb).
    std::string const write_vdb = "echo data | dd of=/dev/vdb bs=512 count=1 conv=fsync 2>&1; echo status=$?";
    auto const result = run_nested({ .options = { "--file", scratch.string() + ":/scratch.img" },
        .command = { "sh", "-c",
            "/vmm boot /bzImage /rootfs.ext4 --disk /scratch.img -- sh -c '" + write_vdb + "'; "
            "/vmm boot /bzImage /rootfs.ext4 --disk /scratch.img,ro -- sh -c '" + write_vdb + "'" } });
    if (result.exit_status == nested_unavailable_status)
        GTEST_SKIP() << "nested SVM KVM host unavailable: " << result.output;
    auto const first = result.output.find("status=");
    ASSERT_NE(first, std::string::npos) << result.output;
    auto const second = result.output.find("status=", first + 1);
    ASSERT_NE(second, std::string::npos) << result.output;
    EXPECT_EQ(result.output.substr(first, 9), "status=0\n") << "the read-write disk takes the write:\n" << result.output;
    EXPECT_NE(result.output.substr(second, 9), "status=0\n") << "the read-only disk refuses it:\n" << result.output;
}

TEST_F(NestedGuest, ASlowReaderHoldsTheGuestBackAndGetsEveryByte)
{
    // The reader of vmm's stdout starts only once vmm says (-v) that its
    // UART dropped CTS: 256 KiB wait in vmm then, and the guest's writer
    // waits in its tty (CRTSCTS) until the reader catches up. Every byte
    // arrives, in order, and nothing is dropped. A watchdog in L1 says what
    // vmm's threads wait for if it does not end; an L1 that freezes as a
    // whole (README.md) is booted again.
    std::string const data = "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 400000";
    std::string const script = "expected=$(" + data + " | md5sum); "
        "(sleep 150; for task in /proc/$(pidof vmm)/task/*; do echo watchdog: $(cat $task/comm $task/wchan); done; kill $(pidof vmm)) & "
        "{ /vmm -v boot /bzImage /rootfs.ext4 -- sh -c '" + data + "' 2>/tmp/log; echo $? >/tmp/status; } | "
        "(tries=0; until grep -q 'drops CTS' /tmp/log || [ $tries -ge 120 ]; do sleep 1; tries=$((tries + 1)); done; sleep 1; md5sum) >/tmp/got; "
        "kill $! 2>/dev/null; echo status=$(cat /tmp/status) holds=$(grep -c 'drops CTS' /tmp/log); "
        "[ \"$(cat /tmp/got)\" = \"$expected\" ] && echo every-byte; grep dropped /tmp/log; true";
    auto const result = run_nested_through_freezes(2, [&](std::string const&) { return NestedRun { .command = { "sh", "-c", script }, .timeout_seconds = 240 }; });
    if (result.exit_status == nested_unavailable_status)
        GTEST_SKIP() << "nested SVM KVM host unavailable: " << result.output;
    EXPECT_NE(result.output.find("status=0 holds="), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("holds=0\n"), std::string::npos) << "the UART never dropped CTS:\n" << result.output;
    EXPECT_NE(result.output.find("every-byte\n"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("dropped"), std::string::npos) << result.output;
}

TEST_F(NestedGuest, VirtioConsoleCarriesTheCommand)
{
    // Bytes written to /dev/hvc0 can only reach vmm's stdout through virtio-console.
    auto const result = boot({ "--console", "virtio" }, { "sh", "-c", "echo consoles=$(cat /sys/class/tty/console/active); echo through-hvc0 >/dev/hvc0" });
    SKIP_IF_UNAVAILABLE();
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("consoles=ttyS0 hvc0\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("through-hvc0\n"), std::string::npos) << result.output;
}

TEST_F(NestedGuest, ShellWithoutCommandReadsPipedInputAsTheContainersDoes)
{
    // No command: guest/init starts a shell, which reads what comes on vmm's
    // stdin. Piped, it reaches the shell through a pipe (guest/console.c), as
    // in `vmm --container` and `docker run -i`: not interactive, so exactly
    // the commands' output and no prompt, and no terminal.
    auto const result = run_nested({ .command = { "sh", "-c",
        "printf 'echo typed-$((6*7))\\ntty\\nexit 5\\n' | /vmm boot /bzImage /rootfs.ext4 >/tmp/out; echo status=$?; "
        "printf 'typed-42\\nnot a tty\\n' | cmp - /tmp/out && echo exactly-the-output; cat /tmp/out" } });
    if (result.exit_status == nested_unavailable_status)
        GTEST_SKIP() << "nested SVM KVM host unavailable: " << result.output;
    EXPECT_NE(result.output.find("status=5\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("exactly-the-output\n"), std::string::npos) << result.output;
}

TEST_F(NestedGuest, TwoVcpuConsoleNeverLosesTheTail)
{
    // The command's output ends the moment it exits; with two vCPUs the
    // UART's transmit interrupt often goes to the halted one, so the tail is
    // still in the guest's tty buffer then. guest/init keeps the console (no
    // hangup flushes it) and drains it before reporting: every run must
    // deliver every byte.
    constexpr int runs = 20;
    constexpr int lines = 40;
    std::string const guest = "for j in $(seq " + std::to_string(lines) + "); do echo run-$0-line-$j-0123456789abcdef; done; echo end-of-run-$0";
    // The nested host sometimes freezes as a whole in one of these boots: no
    // line from any run after it, none from a watchdog in L1, QEMU busy,
    // until scripts/nested-kvm's timeout. Measured on the development host:
    // in 1 of 3 sets of 20 boots with vmm from c0ccfb7, in 2 of 3 with
    // 54b33ed, and in 1 of 3 with two CPUs for L1, so not vmm's doing. The
    // runs then go on in a new nested host from the first one whose status
    // did not come; each run's output is checked all the same.
    std::string output;
    auto const last = run_nested_through_freezes(3, [&](std::string const& frozen_output) {
        output += frozen_output;
        int first = 1;
        while (first <= runs && output.find("status-" + std::to_string(first) + "=") != std::string::npos)
            ++first;
        std::string const script = "for i in $(seq " + std::to_string(first) + " " + std::to_string(runs)
            + "); do /vmm boot /bzImage /rootfs.ext4 --cpus 2 -- sh -c '" + guest + "' $i; echo status-$i=$?; done";
        return NestedRun { .command = { "sh", "-c", script }, .timeout_seconds = 180 };
    });
    if (last.exit_status == nested_unavailable_status)
        GTEST_SKIP() << "nested SVM KVM host unavailable: " << last.output;
    output += last.output;
    ASSERT_EQ(last.exit_status, 0) << output;
    int complete_runs = 0;
    for (int run = 1; run <= runs; ++run) {
        std::string expected;
        for (int line = 1; line <= lines; ++line)
            expected += expected_line(run, line);
        expected += "end-of-run-" + std::to_string(run) + "\n";
        bool const complete = output.find(expected) != std::string::npos;
        EXPECT_TRUE(complete) << "run " << run << " lost console output";
        EXPECT_NE(output.find("status-" + std::to_string(run) + "=0\n"), std::string::npos) << "run " << run;
        complete_runs += complete;
    }
    EXPECT_EQ(complete_runs, runs) << output;
}

// Ctrl-S and Ctrl-Q on a held console: tests/nested/vm_terminal_test.cpp
// (typed in tmux, since piped input is data, not flow control).

TEST_F(NestedGuest, JailedVmmBootsTheGuest)
{
    // --jail: the VMM sees only /kernel, /disk0, /dev/kvm and /proc, in a
    // cgroup of its own (cgroup2 mounted as on systemd hosts), and the full
    // guest still runs.
    auto const result = run_nested({ .command = { "sh", "-c",
        "mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && "
        "/vmm boot --jail /bzImage /rootfs.ext4 -- sh -c 'echo jailed-$((6*7))'; echo status=$?; "
        "ls /sys/fs/cgroup | grep -c vmm-container" } });
    if (result.exit_status == nested_unavailable_status)
        GTEST_SKIP() << "nested SVM KVM host unavailable: " << result.output;
    EXPECT_NE(result.output.find("jailed-42\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("status=0\n0\n"), std::string::npos) << "vmm ended cleanly and removed its cgroup:\n" << result.output;
}

TEST_F(NestedGuest, EnvironmentWorkdirUserAndHostnameReachTheCommand)
{
    // guest/init applies -e, -w and -u as the container's init does, the user
    // from the guest tree's /etc/passwd and /etc/group; --hostname replaces
    // the tree's /etc/hostname.
    auto const result = boot({ "-e", "GREETING=a b", "-w", "/etc", "-u", "nobody:tty", "--hostname", "guest-1" },
        { "sh", "-c", "echo \"$GREETING|$HOME\"; pwd; grep -E '^(Uid|Gid|CapEff):' /proc/self/status | tr -s '\\t ' ' '; hostname" });
    SKIP_IF_UNAVAILABLE();
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("a b|/\n/etc\nUid: 65534 65534 65534 65534\nGid: 5 5 5 5\nCapEff: 0000000000000000\nguest-1\n"), std::string::npos)
        << result.output;

    auto const unknown = boot({ "-u", "bob" }, { "true" });
    SKIP_IF_UNAVAILABLE();
    EXPECT_EQ(unknown.exit_status, 125) << unknown.output;
    EXPECT_NE(unknown.output.find("vmm-init: --user 'bob': no user 'bob' in the root filesystem's /etc/passwd\n"), std::string::npos) << unknown.output;
}
