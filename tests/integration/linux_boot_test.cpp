// The project's kernel on this host's /dev/kvm, asserting on its console log.
// On a PVM host guest user space cannot run, so these tests check what the
// kernel does (devices, root mount, starting init) and that vmm then exits
// on its own; on a VMX/SVM host the same assertions hold.
#include "tests/support/Subprocess.h"

#include <filesystem>
#include <gtest/gtest.h>

using vmm::testing::can_open_read_write;
using vmm::testing::count_lines_containing;
using vmm::testing::run_process;

namespace {

std::string const vmm_binary = VMM_BUILD_DIR "/vmm";
std::string const kernel = VMM_BUILD_DIR "/guest/bzImage";
std::string const rootfs_image = VMM_BUILD_DIR "/guest/rootfs.ext4";
std::string const initramfs = VMM_BUILD_DIR "/guest/initramfs.cpio";
// A PVM host emulates every guest kernel instruction: a boot takes minutes.
constexpr int boot_timeout_seconds = 900;

class LinuxBoot : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (!can_open_read_write("/dev/kvm"))
            GTEST_SKIP() << "this host has no usable /dev/kvm";
        for (auto const& path : { kernel, rootfs_image, initramfs })
            ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing: run guest/build-kernel and guest/build-rootfs (scripts/test does)";
    }
};

}

TEST_F(LinuxBoot, ReachesInitFromAnInitramfsAndExitsOnItsOwn)
{
    auto const result = run_process({ vmm_binary, "boot", "--mem", "128M", "--cmdline", "loglevel=7", "--initrd", initramfs, kernel, rootfs_image + ",ro" },
        boot_timeout_seconds);
    EXPECT_FALSE(result.timed_out) << "vmm did not exit on its own:\n" << result.output;
    EXPECT_NE(result.output.find("Run /init as init process"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("Unpacking initramfs"), std::string::npos);
    EXPECT_EQ(result.output.find("vmm: vCPU"), std::string::npos) << "no emulation failure:\n" << result.output;
}

TEST_F(LinuxBoot, MountsExt4RootFromVirtioBlkAndPrintsOnHvc0)
{
    // A private copy: the root filesystem is mounted read-write and the shared image stays free for other tests.
    auto const image = std::filesystem::temp_directory_path() / ("vmm-linux-boot-" + std::to_string(getpid()) + ".ext4");
    std::filesystem::copy_file(rootfs_image, image, std::filesystem::copy_options::overwrite_existing);
    // The kernel mounts the root itself here (vmm's initramfs leaves that to
    // guest/init, whose system calls cannot run on a PVM host): an rdinit
    // that does not exist sends it to root=.
    auto const result = run_process({ vmm_binary, "boot", "--mem", "128M", "--console", "virtio", "--cmdline",
                                        "loglevel=7 rdinit=/none root=/dev/vda rw rootfstype=ext4", kernel, image },
        boot_timeout_seconds);
    std::filesystem::remove(image);
    EXPECT_FALSE(result.timed_out) << "vmm did not exit on its own:\n" << result.output;
    auto const sectors = std::filesystem::file_size(rootfs_image) / 512;
    EXPECT_NE(result.output.find("[vda] " + std::to_string(sectors) + " 512-byte logical blocks"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("EXT4-fs (vda): mounted filesystem"), std::string::npos);
    EXPECT_NE(result.output.find("printk: console [hvc0] enabled"), std::string::npos);
    // Once hvc0 is a console every message comes out twice: through the UART and through hvc0.
    EXPECT_EQ(count_lines_containing(result.output, "Run /sbin/init as init process"), 2) << result.output;
    EXPECT_EQ(result.output.find("vmm: vCPU"), std::string::npos) << "no emulation failure";
}
