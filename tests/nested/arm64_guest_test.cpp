// vmm boot of an arm64 guest on an arm64 KVM host: the nested one that
// scripts/nested-kvm-arm64 runs under qemu-system-aarch64's TCG (virt board
// with EL2 and a GICv3, Debian's arm64 cloud kernel). The aarch64 vmm, guest
// kernel and rootfs come from the cross build that scripts/build-aarch64 makes
// (build-aarch64/, or $VMM_AARCH64_BUILD_DIR). The tests skip, with the
// reason, where QEMU for arm or that build is missing (the script exits 77).
#include "tests/support/Subprocess.h"

#include <cstdlib>
#include <gtest/gtest.h>

using vmm::testing::ProcessResult;
using vmm::testing::run_process;

namespace {

constexpr int unavailable_status = 77;
constexpr int nested_timeout_seconds = 400;

std::string aarch64_build_dir()
{
    char const* given = std::getenv("VMM_AARCH64_BUILD_DIR");
    return given ? given : VMM_SOURCE_DIR "/build-aarch64";
}

class NestedArm64Guest : public ::testing::Test {
protected:
    // Runs COMMAND (a shell command line) in the arm64 L1, where /vmm, /Image
    // and /rootfs.ext4 are the aarch64 vmm, guest kernel and rootfs.
    ProcessResult in_l1(std::string const& command)
    {
        auto result = run_process({ VMM_SOURCE_DIR "/scripts/nested-kvm-arm64", "--build-dir", aarch64_build_dir(), "--timeout",
                                      std::to_string(nested_timeout_seconds), "--", "sh", "-c", command },
            nested_timeout_seconds + 100);
        std::erase(result.output, '\r');
        if (result.exit_status == unavailable_status)
            m_skip_reason = "nested arm64 KVM host unavailable: " + result.output;
        return result;
    }

    std::string m_skip_reason;
};

#define SKIP_IF_UNAVAILABLE()              \
    do {                                   \
        if (!m_skip_reason.empty())        \
            GTEST_SKIP() << m_skip_reason; \
    } while (0)

}

TEST_F(NestedArm64Guest, EchoHelloPrintsHello)
{
    auto const result = in_l1("/vmm boot /Image /rootfs.ext4 --timings -- echo hello");
    SKIP_IF_UNAVAILABLE();
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("hello\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("vmm: boot marker (vm)"), std::string::npos) << "guest/init's marker reached vmm's report page\n" << result.output;
    // The wall time of one boot, for the record (vmm's own timings are in the output).
    std::cout << result.output << std::endl;
}

TEST_F(NestedArm64Guest, CommandExitStatusIsCarried)
{
    auto const result = in_l1("/vmm boot /Image /rootfs.ext4 -- sh -c 'exit 7'");
    SKIP_IF_UNAVAILABLE();
    EXPECT_EQ(result.exit_status, 7) << result.output;
}

TEST_F(NestedArm64Guest, WriteToVdaLandsInTheImage)
{
    // The second boot, read-only, reads what the first one wrote through /dev/vda.
    auto const result = in_l1("/vmm boot /Image /rootfs.ext4 -- sh -c 'echo landed-on-vda > /written' && "
                              "/vmm boot /Image /rootfs.ext4,ro -- cat /written");
    SKIP_IF_UNAVAILABLE();
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("landed-on-vda\n"), std::string::npos) << result.output;
}

TEST_F(NestedArm64Guest, TwoVcpusShowInProcCpuinfo)
{
    auto const result = in_l1("/vmm boot /Image /rootfs.ext4 --cpus 2 -- grep -c ^processor /proc/cpuinfo");
    SKIP_IF_UNAVAILABLE();
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("\n2\n"), std::string::npos) << result.output;
}

TEST_F(NestedArm64Guest, DumpedDeviceTreeNamesTheDevices)
{
    // --dump-dtb writes the tree the guest got; dtc reads it here.
    auto const result = in_l1("cp /rootfs.ext4 /tmp/second.ext4 && /vmm boot /Image /rootfs.ext4 --disk /tmp/second.ext4,ro "
                              "--console virtio --dump-dtb /tmp/guest.dtb -- echo via-hvc0 && base64 /tmp/guest.dtb");
    SKIP_IF_UNAVAILABLE();
    ASSERT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("via-hvc0\n"), std::string::npos) << "virtio-console carried the command's output\n" << result.output;
    auto const start = result.output.find("0A3+");
    ASSERT_NE(start, std::string::npos) << "no base64 of a device tree (magic d00dfeed)\n" << result.output;
    auto const end = result.output.find("\nnested-kvm-arm64:", start);
    auto const decoded = run_process({ "sh", "-c", "base64 -d | dtc -I dtb -O dts -" }, 60, result.output.substr(start, end - start));
    if (decoded.exit_status == 127)
        GTEST_SKIP() << "dtc (device-tree-compiler) is not installed";
    ASSERT_EQ(decoded.exit_status, 0) << decoded.output;
    size_t virtio_nodes = 0;
    for (auto at = decoded.output.find("compatible = \"virtio,mmio\""); at != std::string::npos;
         at = decoded.output.find("compatible = \"virtio,mmio\"", at + 1))
        ++virtio_nodes;
    EXPECT_EQ(virtio_nodes, 3u) << "two disks and the console\n" << decoded.output;
    EXPECT_NE(decoded.output.find("console=hvc0"), std::string::npos) << decoded.output;
}
