// vmm boot end to end on this host's /dev/kvm: tiny test guests, bad input,
// and a Linux boot to init (kernel level, which is all a PVM host can run).
#include "tests/support/Subprocess.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sys/sysinfo.h>

using vmm::testing::can_open_read_write;
using vmm::testing::count_lines_containing;
using vmm::testing::run_process;

namespace {

std::string const vmm_binary = VMM_BUILD_DIR "/vmm";
std::string const guests = VMM_BUILD_DIR "/test-guests/";
std::string const kernel = VMM_BUILD_DIR "/guest/bzImage";
// Read-only, so that tests running at the same time can share the image.
std::string const rootfs_image = VMM_BUILD_DIR "/guest/rootfs.ext4,ro";

#define REQUIRE_KVM()                                                              \
    do {                                                                           \
        if (!can_open_read_write("/dev/kvm"))                                      \
            GTEST_SKIP() << "this host has no usable /dev/kvm";                    \
    } while (0)

std::string temporary_file(std::string const& name, std::string const& contents)
{
    auto path = std::filesystem::temp_directory_path() / ("vmm-boot-test-" + std::to_string(getpid()) + "-" + name);
    std::ofstream(path, std::ios::binary) << contents;
    return path;
}

void expect_one_line_error(vmm::testing::ProcessResult const& result, std::string const& fragment)
{
    EXPECT_NE(result.exit_status, 0);
    EXPECT_FALSE(result.dumped_core);
    EXPECT_FALSE(result.timed_out);
    EXPECT_EQ(count_lines_containing(result.output, "vmm: "), 1) << result.output;
    EXPECT_NE(result.output.find(fragment), std::string::npos) << result.output;
}

}

TEST(TestGuest, SerialOutputReachesStdout)
{
    REQUIRE_KVM();
    auto const result = run_process({ vmm_binary, "boot", guests + "serial_hello.bin" });
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("hello from the test guest\n"), std::string::npos) << result.output;
}

TEST(TestGuest, StdinReachesTheGuestThroughTheUart)
{
    REQUIRE_KVM();
    auto const result = run_process({ vmm_binary, "boot", guests + "serial_echo.bin" }, 60, "typed on the host\n");
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("typed on the host"), std::string::npos) << result.output;
}

TEST(TestGuest, UserModeVirtioBlkDriverReadsTheDisk)
{
    REQUIRE_KVM();
    // The driver scripts/bench-blk times: CPL3 code that sets up virtio-blk through the MMIO registers.
    auto const image = temporary_file("blk.img", std::string(8 << 20, 'x'));
    auto const result = run_process({ vmm_binary, "boot", guests + "blk_driver.bin", "--disk", image + ",ro" }, 120);
    std::filesystem::remove(image);
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("blk-driver: sequential-end bytes=1073741824"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("blk-driver: random-end requests="), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("blk-driver: interrupting-end requests="), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("blk-driver: queues=1\n"), std::string::npos) << "one vCPU, one queue:\n" << result.output;
    // The notification cost probes ran to their end (the ioeventfd's before DRIVER_OK, which must not stop the device).
    EXPECT_NE(result.output.find("blk-driver: trapped-end exits=200000\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("blk-driver: ioeventfd-end exits=100000\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("blk-driver: userspace-end exits=40000\n"), std::string::npos) << result.output;
}

TEST(TestGuest, UserModeVirtioBlkDriverUsesAQueuePerVcpu)
{
    REQUIRE_KVM();
    // Two vCPUs: VIRTIO_BLK_F_MQ with two queues, each notified with its own
    // index (KVM's ioeventfd with that datamatch), queue 1 served on its own
    // thread under its seccomp filter; the driver reads through both at once.
    auto const image = temporary_file("blk-mq.img", std::string(8 << 20, 'x'));
    auto const result = run_process({ vmm_binary, "boot", guests + "blk_driver.bin", "--cpus", "2", "--disk", image + ",ro" }, 120);
    std::filesystem::remove(image);
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("blk-driver: queues=2\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("blk-driver: single-end requests="), std::string::npos) << result.output;
    // --blk-queues sets the count whatever the vCPUs.
    auto const image_three = temporary_file("blk-mq3.img", std::string(8 << 20, 'x'));
    auto const three = run_process({ vmm_binary, "boot", guests + "blk_driver.bin", "--blk-queues", "3", "--disk", image_three + ",ro" }, 120);
    std::filesystem::remove(image_three);
    EXPECT_EQ(three.exit_status, 0) << three.output;
    EXPECT_NE(three.output.find("blk-driver: queues=3\n"), std::string::npos) << three.output;
}

TEST(TestGuest, I8042ResetExitsZero)
{
    REQUIRE_KVM();
    auto const result = run_process({ vmm_binary, "boot", guests + "i8042_reset.bin" });
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_FALSE(result.timed_out);
}

TEST(TestGuest, ExitStatusPortSetsTheStatusAndTimingsArePrinted)
{
    REQUIRE_KVM();
    auto const result = run_process({ vmm_binary, "boot", "--timings", guests + "exit_status.bin" });
    EXPECT_EQ(result.exit_status, 42) << result.output;
    EXPECT_NE(result.output.find("vmm: timings: vm created"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("first KVM_RUN"), std::string::npos);
    EXPECT_EQ(result.output.find("boot marker -"), std::string::npos) << "the guest wrote the boot marker port";
}

// More guest RAM than the host has runs (it is reserved lazily) with one
// note; RAM the host has gets none.
TEST(TestGuest, MoreMemoryThanTheHostHasRunsWithANote)
{
    REQUIRE_KVM();
    struct sysinfo host {};
    ASSERT_EQ(::sysinfo(&host), 0);
    auto const host_gib = uint64_t(host.totalram) * host.mem_unit >> 30;
    if (host_gib >= 512)
        GTEST_SKIP() << "this host has more RAM (" << host_gib << " GiB) than vmm lets a guest have";
    auto const beyond = run_process({ vmm_binary, "boot", "--mem", std::to_string(2 * host_gib + 2) + "G", guests + "exit_status.bin" });
    EXPECT_EQ(beyond.exit_status, 42) << beyond.output;
    EXPECT_EQ(count_lines_containing(beyond.output, "is more than this host's"), 1) << beyond.output;
    auto const within = run_process({ vmm_binary, "boot", "--mem", "64M", guests + "exit_status.bin" });
    EXPECT_EQ(within.exit_status, 42) << within.output;
    EXPECT_EQ(count_lines_containing(within.output, "is more than this host's"), 0) << within.output;
}

TEST(TestGuest, ResetWithoutStatusIsAnErrorWhenACommandWasGiven)
{
    REQUIRE_KVM();
    auto const result = run_process({ vmm_binary, "boot", guests + "i8042_reset.bin", "--", "true" });
    expect_one_line_error(result, "reset before its command reported");
}

TEST(TestGuest, TripleFaultIsAClearError)
{
    REQUIRE_KVM();
    auto const result = run_process({ vmm_binary, "boot", guests + "triple_fault.bin" });
    expect_one_line_error(result, "triple-faulted");
}

TEST(TestGuest, SeveralVcpusStart)
{
    REQUIRE_KVM();
    auto const result = run_process({ vmm_binary, "boot", "--cpus", "4", guests + "exit_status.bin" });
    EXPECT_EQ(result.exit_status, 42) << result.output;
}

TEST(BadInput, MissingKernel)
{
    expect_one_line_error(run_process({ vmm_binary, "boot", "/nonexistent/bzImage", "/dev/null" }), "kernel /nonexistent/bzImage: No such file or directory");
}

TEST(BadInput, TextFileIsNotABzImage)
{
    auto const path = temporary_file("text", std::string(8192, 'x'));
    expect_one_line_error(run_process({ vmm_binary, "boot", path, "/dev/null" }), "not a bzImage");
    std::filesystem::remove(path);
}

TEST(BadInput, TruncatedAndCorruptKernels)
{
    std::ifstream file(kernel, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(bytes.empty()) << kernel << " is missing: run guest/build-kernel";
    // The checks stop at the first problem: the kernel is checked before the disk.
    auto const truncated = temporary_file("truncated", bytes.substr(0, bytes.size() / 3));
    expect_one_line_error(run_process({ vmm_binary, "boot", truncated, rootfs_image }), "truncated");
    bytes[bytes.size() / 2] ^= 1;
    auto const corrupt = temporary_file("corrupt", bytes);
    expect_one_line_error(run_process({ vmm_binary, "boot", corrupt, rootfs_image }), "corrupt");
    std::filesystem::remove(truncated);
    std::filesystem::remove(corrupt);
}

TEST(BadInput, MemoryAndCpuValues)
{
    expect_one_line_error(run_process({ vmm_binary, "boot", "--mem", "lots", kernel, rootfs_image }), "--mem: 'lots' is not a size");
    expect_one_line_error(run_process({ vmm_binary, "boot", "--mem", "4M", kernel, rootfs_image }), "--mem: 4 MiB is too small");
    expect_one_line_error(run_process({ vmm_binary, "boot", "--mem", "12M", kernel, rootfs_image }), "is too small for kernel");
    expect_one_line_error(run_process({ vmm_binary, "boot", "--cpus", "0", kernel, rootfs_image }), "--cpus: '0' is not a vCPU count");
    expect_one_line_error(run_process({ vmm_binary, "boot", "--cpus", "two", kernel, rootfs_image }), "--cpus: 'two'");
}

TEST(BadInput, ReadOnlyRootWithAJournalToReplay)
{
    // The guest's kernel could not mount it: refused before the boot.
    auto const copy = std::filesystem::temp_directory_path() / ("vmm-needs-recovery-" + std::to_string(::getpid()) + ".ext4");
    ASSERT_EQ(std::system(("cp --sparse=always " VMM_BUILD_DIR "/guest/rootfs.ext4 " + copy.string() + " && debugfs -w -R 'feature needs_recovery' " + copy.string()
                              + " >/dev/null 2>&1")
                              .c_str()),
        0);
    expect_one_line_error(run_process({ vmm_binary, "boot", kernel, copy.string() + ",ro" }), copy.string() + ": its journal needs recovery");
    std::filesystem::remove(copy);
}

TEST(BadInput, MissingDiskAndInitrdAndUnknownFlags)
{
    expect_one_line_error(run_process({ vmm_binary, "boot", kernel, "/nonexistent/rootfs.ext4" }), "/nonexistent/rootfs.ext4: No such file or directory");
    expect_one_line_error(run_process({ vmm_binary, "boot", "--initrd", "/nonexistent/initrd", kernel, rootfs_image }), "initrd /nonexistent/initrd");
    expect_one_line_error(run_process({ vmm_binary, "boot", "--disk", "x.img,fast", kernel, rootfs_image }), "unknown option 'fast'");
    expect_one_line_error(run_process({ vmm_binary, "boot", "--blk-queues", "9", kernel, rootfs_image }), "--blk-queues: Value 9 not in range 1 to 8");
    expect_one_line_error(run_process({ vmm_binary, "boot", "--blk-queues", "0", kernel, rootfs_image }), "--blk-queues: Value 0 not in range 1 to 8");
    auto const result = run_process({ vmm_binary, "boot", "--frobnicate", kernel, rootfs_image });
    EXPECT_EQ(result.exit_status, 2) << result.output;
    EXPECT_NE(result.output.find("--frobnicate"), std::string::npos) << result.output;
}

TEST(BadInput, InitrdTooLargeForMemory)
{
    REQUIRE_KVM();
    auto const initrd = std::filesystem::temp_directory_path() / ("vmm-boot-test-big-initrd-" + std::to_string(getpid()));
    {
        std::ofstream create(initrd);
    }
    std::filesystem::resize_file(initrd, 40 << 20);
    expect_one_line_error(run_process({ vmm_binary, "boot", "--mem", "32M", "--initrd", initrd, kernel, rootfs_image }), "fit in 32 MiB of guest memory");
    std::filesystem::remove(initrd);
}

TEST(HugePages, BackGuestMemoryOrFailClearly)
{
    REQUIRE_KVM();
    std::ifstream pool("/proc/sys/vm/nr_hugepages");
    long reserved = 0;
    pool >> reserved;
    auto const result = run_process({ vmm_binary, "boot", "--hugepages", "--mem", "16M", guests + "exit_status.bin" });
    if (reserved >= 8) {
        EXPECT_EQ(result.exit_status, 42) << result.output;
    } else {
        expect_one_line_error(result, "nr_hugepages");
    }
    expect_one_line_error(run_process({ vmm_binary, "boot", "--hugepages", "--mem", "17M", kernel, rootfs_image }), "not a multiple of the 2 MiB");
}
