// vmm boot's bad input that QA found mishandled: files that are not images
// (a FIFO must never hang vmm), a signed kernel, an image in use, ROOTFS's
// own errors, one image given twice, empty option values, and exit status 2
// for every usage error (1 for a run that fails).
#include "tests/support/Subprocess.h"

#include <algorithm>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

using vmm::testing::can_open_read_write;
using vmm::testing::count_lines_containing;
using vmm::testing::ProcessResult;
using vmm::testing::run_process;
namespace fs = std::filesystem;

namespace {

std::string const vmm_binary = VMM_BUILD_DIR "/vmm";
std::string const guests = VMM_BUILD_DIR "/test-guests/";
std::string const kernel = VMM_BUILD_DIR "/guest/bzImage";
std::string const rootfs = VMM_BUILD_DIR "/guest/rootfs.ext4";
// Short: each of these ends before the guest runs, and a hang is the bug.
constexpr int timeout_seconds = 20;

ProcessResult run_vmm(std::vector<std::string> arguments)
{
    arguments.insert(arguments.begin(), vmm_binary);
    return run_process(arguments, timeout_seconds);
}

void expect_one_line_error(ProcessResult const& result, std::string const& fragment, int exit_status)
{
    EXPECT_FALSE(result.timed_out) << "vmm hung: " << result.output;
    EXPECT_FALSE(result.dumped_core);
    EXPECT_EQ(result.exit_status, exit_status) << result.output;
    EXPECT_EQ(count_lines_containing(result.output, "vmm: "), 1) << result.output;
    EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
    EXPECT_NE(result.output.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << result.output;
}

class BootInput : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_TRUE(fs::exists(kernel) && fs::exists(rootfs)) << "run guest/build-kernel and guest/build-rootfs (scripts/test does)";
        std::string pattern = (fs::temp_directory_path() / "vmm-boot-input-test.XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        m_scratch = pattern;
    }
    void TearDown() override
    {
        std::error_code ignored;
        fs::remove_all(m_scratch, ignored);
    }
    std::string fifo()
    {
        auto const path = (m_scratch / "fifo").string();
        if (!fs::exists(path)) {
            EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0);
        }
        return path;
    }
    // A sparse copy of the test rootfs, which this test may write and lock.
    std::string rootfs_copy(std::string const& name)
    {
        auto const path = (m_scratch / name).string();
        EXPECT_EQ(std::system(("cp --sparse=always " + rootfs + " " + path).c_str()), 0);
        return path;
    }

    fs::path m_scratch;
};

}

TEST_F(BootInput, FifosAndCharacterDevicesAreRefusedWithoutWaiting)
{
    auto const path = fifo();
    // Nobody ever opens the FIFO's other end: an open() that waits for it hangs.
    expect_one_line_error(run_vmm({ "boot", path, rootfs + ",ro", "--", "true" }), "kernel " + path + ": not a regular file", 1);
    expect_one_line_error(run_vmm({ "boot", "/dev/tty", rootfs + ",ro", "--", "true" }), "kernel /dev/tty", 1);
    if (!can_open_read_write("/dev/kvm"))
        GTEST_SKIP() << "this host has no usable /dev/kvm: the initrd and disks are opened once the VM exists";
    expect_one_line_error(run_vmm({ "boot", "--initrd", path, kernel, rootfs + ",ro", "--", "true" }), "initrd " + path + ": not a regular file", 1);
    for (auto const& disk : { path + ",ro", path, std::string("/dev/zero"), std::string("/dev/zero,ro") }) {
        auto const image = disk.substr(0, disk.find(','));
        expect_one_line_error(run_vmm({ "boot", guests + "exit_status.bin", "--disk", disk }), "disk image " + image + ": not a regular file or block device", 1);
        expect_one_line_error(run_vmm({ "boot", kernel, disk, "--", "true" }), "disk image " + image + ": not a regular file or block device", 1);
    }
}

TEST_F(BootInput, SignedKernelPassesTheKernelChecks)
{
    // A signature appended as sbsign does: the build's CRC32 no longer matches.
    auto const signed_kernel = (m_scratch / "bzImage.signed").string();
    fs::copy_file(kernel, signed_kernel);
    std::ofstream(signed_kernel, std::ios::app | std::ios::binary) << std::string(1472, '\x30');
    // 12M is too little for the kernel: said only once the kernel was read and parsed.
    expect_one_line_error(run_vmm({ "boot", "--mem", "12M", signed_kernel, rootfs + ",ro", "--", "true" }), "is too small for kernel " + signed_kernel, 1);
}

TEST_F(BootInput, ReadOnlyUserOfAnImageInUseIsToldItIsInUse)
{
    // The image a writer has mounted: its journal is in use (needs_recovery),
    // and the writer holds the exclusive image lock (here: this process).
    auto const image = rootfs_copy("in-use.ext4");
    ASSERT_EQ(std::system(("debugfs -w -R 'feature needs_recovery' " + image + " >/dev/null 2>&1").c_str()), 0);
    int const writer = ::open(image.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(writer, 0);
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    ASSERT_EQ(::fcntl(writer, F_OFD_SETLK, &lock), 0);
    auto const in_use = "disk image " + image + " is in use by PID " + std::to_string(::getpid());
    auto const booted = run_vmm({ "boot", kernel, image + ",ro", "--", "true" });
    expect_one_line_error(booted, in_use, 1);
    EXPECT_EQ(booted.output.find("e2fsck"), std::string::npos) << "told to repair a mounted image: " << booted.output;
    if (::geteuid() == 0) {
        auto const contained = run_vmm({ "--container", image + ",ro", "--", "true" });
        expect_one_line_error(contained, in_use, 1);
        EXPECT_EQ(contained.output.find("e2fsck"), std::string::npos) << "told to repair a mounted image: " << contained.output;
    }
    ::close(writer);
    // Once the writer is gone, the journal is what stops a read-only user.
    expect_one_line_error(run_vmm({ "boot", kernel, image + ",ro", "--", "true" }), image + ": its journal needs recovery", 1);
}

TEST_F(BootInput, AnImageOnTheHostsLoopDeviceIsRefusedToAWriter)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "losetup needs root";
    if (!can_open_read_write("/dev/kvm"))
        GTEST_SKIP() << "this host has no usable /dev/kvm: the disks are opened once the VM exists";
    auto const image = rootfs_copy("on-host-loop.ext4");
    auto attached = run_process({ "losetup", "--find", "--show", image }, timeout_seconds);
    ASSERT_EQ(attached.exit_status, 0) << attached.output;
    auto const device = attached.output.substr(0, attached.output.find('\n'));
    expect_one_line_error(run_vmm({ "boot", kernel, image, "--", "true" }), "disk image " + image + " is in use by " + device, 1);
    expect_one_line_error(run_vmm({ "boot", kernel, rootfs, "--disk", image + ",ro", "--", "true" }), "is in use by " + device, 1);
    // The loop device itself, held exclusively as a mount holds it: a writer
    // is refused, where a file lock would not tell.
    int const held = ::open(device.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC);
    ASSERT_GE(held, 0) << device;
    expect_one_line_error(run_vmm({ "boot", kernel, device, "--", "true" }), "disk image " + device + " is in use: the block device is mounted", 1);
    ::close(held);
    EXPECT_EQ(run_process({ "losetup", "-d", device }, timeout_seconds).exit_status, 0);
}

TEST_F(BootInput, RootfsErrorsNameRootfs)
{
    auto const image = rootfs + ",xx";
    expect_one_line_error(run_vmm({ "boot", kernel, image }), "ROOTFS: unknown option 'xx' in '" + image + "'", 2);
    expect_one_line_error(run_vmm({ "boot", kernel, ",ro" }), "ROOTFS: ',ro' names no image", 2);
    expect_one_line_error(run_vmm({ "boot", kernel, "" }), "ROOTFS: '' names no image", 2);
    auto const disk = run_vmm({ "boot", kernel, rootfs + ",ro", "--disk", "x.img,xx" });
    expect_one_line_error(disk, "--disk: unknown option 'xx' in 'x.img,xx'", 2);
}

TEST_F(BootInput, OneImageGivenTwiceIsNamed)
{
    auto const image = rootfs_copy("twice.ext4");
    expect_one_line_error(run_vmm({ "boot", kernel, image, "--disk", image }),
        "ROOTFS " + image + " and --disk " + image + " are the same image", 2);
    // Another path to the same file is the same image; read-only both times too.
    auto const link = (m_scratch / "link.ext4").string();
    fs::create_hard_link(image, link);
    expect_one_line_error(run_vmm({ "boot", kernel, rootfs + ",ro", "--disk", image + ",ro", "--disk", link + ",ro" }),
        "--disk " + image + ",ro and --disk " + link + ",ro are the same image", 2);
}

TEST_F(BootInput, EmptyValuesAreRefused)
{
    expect_one_line_error(run_vmm({ "boot", "--mem", "", kernel, rootfs + ",ro" }), "--mem: '' is not a size", 2);
    expect_one_line_error(run_vmm({ "boot", "--cpus", "", kernel, rootfs + ",ro" }), "--cpus: '' is not a vCPU count", 2);
    expect_one_line_error(run_vmm({ "boot", "--initrd", "", kernel, rootfs + ",ro" }), "--initrd: an empty path", 2);
}

TEST_F(BootInput, UsageErrorsExitTwoFailedRunsOne)
{
    auto const ro = rootfs + ",ro";
    expect_one_line_error(run_vmm({ "boot", "--cpus", "0", kernel, ro }), "--cpus: '0' is not a vCPU count", 2);
    expect_one_line_error(run_vmm({ "boot", "--mem", "abc", kernel, ro }), "--mem: 'abc' is not a size", 2);
    expect_one_line_error(run_vmm({ "boot", "--disk", "x,RO", kernel, ro }), "--disk: unknown option 'RO'", 2);
    expect_one_line_error(run_vmm({ "--mem", "1G", "boot", kernel, ro }), "--mem before boot is a container option", 2);
    expect_one_line_error(run_vmm({ "boot", "--ip", "10.0.0.1", kernel, ro }), "need --net bridge", 2);
    expect_one_line_error(run_vmm({ "boot", "--net", "bridge", "--mac", "xx", kernel, ro }), "--mac: 'xx' is not a MAC address", 2);
    // CLI11's own checks.
    expect_one_line_error(run_vmm({ "boot", "--blk-queues", "0", kernel, ro }), "--blk-queues", 2);
    expect_one_line_error(run_vmm({ "boot", "--console", "x", kernel, ro }), "--console", 2);
    // Runs that fail: 1.
    expect_one_line_error(run_vmm({ "boot", "/nonexistent/bzImage", ro }), "kernel /nonexistent/bzImage: No such file or directory", 1);
    expect_one_line_error(run_vmm({ "boot", kernel, "/nonexistent/rootfs.ext4" }), "/nonexistent/rootfs.ext4", 1);
}

// -v after boot, where the README lists it, as before it.
TEST_F(BootInput, VerboseGoesBeforeOrAfterBoot)
{
    if (!can_open_read_write("/dev/kvm"))
        GTEST_SKIP() << "this host has no usable /dev/kvm";
    for (auto const& arguments : { std::vector<std::string> { "-v", "boot", guests + "serial_hello.bin" }, std::vector<std::string> { "boot", "-v", guests + "serial_hello.bin" } }) {
        auto const result = run_vmm(arguments);
        EXPECT_EQ(result.exit_status, 0) << result.output;
        EXPECT_NE(result.output.find("hello from the test guest"), std::string::npos) << result.output;
        EXPECT_GE(count_lines_containing(result.output, "vmm: "), 1) << "nothing logged: " << result.output;
    }
}

TEST_F(BootInput, ContainerLimitsOutOfRangeAreUsageErrors)
{
    // Refused while the options are parsed, before the rootfs is looked at.
    auto const pids = run_vmm({ "--container", "/nonexistent", "--pids", "9223372036854775808", "--", "true" });
    expect_one_line_error(pids, "--pids: '9223372036854775808' is more than 4194304", 2);
    expect_one_line_error(run_vmm({ "--container", "/nonexistent", "--pids", "4194305", "--", "true" }), "--pids", 2);
    expect_one_line_error(run_vmm({ "--container", "/nonexistent", "--cpus", "1e-9", "--", "true" }), "--cpus: '1e-9' is less than 0.01", 2);
    expect_one_line_error(run_vmm({ "--container", "/nonexistent", "--cpus", "0", "--", "true" }), "--cpus: '0'", 2);
    expect_one_line_error(run_vmm({ "--container", "/nonexistent", "--mem", "abc", "--", "true" }), "--mem: 'abc' is not a size", 2);
    expect_one_line_error(run_vmm({ "--container", "/nonexistent,RO", "--", "true" }), "--container: unknown option 'RO'", 2);
    expect_one_line_error(run_vmm({ "--container", "/nonexistent", "--ip", "10.0.0.2", "--", "true" }), "--ip needs --net bridge", 2);
    // The command's settings: their forms, for the container and the VM alike.
    for (auto const* mode : { "--container", "boot" }) {
        auto with = [&](std::vector<std::string> const& options) {
            std::vector<std::string> arguments = std::string(mode) == "boot" ? std::vector<std::string> { "boot", kernel, rootfs + ",ro" } : std::vector<std::string> { "--container", "/nonexistent" };
            arguments.insert(arguments.end(), options.begin(), options.end());
            arguments.insert(arguments.end(), { "--", "true" });
            return run_vmm(arguments);
        };
        expect_one_line_error(with({ "-e", "=x" }), "--env '=x': not KEY=VALUE or KEY", 2);
        expect_one_line_error(with({ "-u", "a:b:c" }), "--user 'a:b:c'", 2);
        expect_one_line_error(with({ "-w", "relative" }), "--workdir 'relative': not an absolute path", 2);
        expect_one_line_error(with({ "--hostname", std::string(65, 'h') }), "--hostname", 2);
    }
    // The rootfs is missing: a failed run.
    expect_one_line_error(run_vmm({ "--container", "/nonexistent", "--pids", "4194304", "--", "true" }), "/nonexistent", 1);
}
