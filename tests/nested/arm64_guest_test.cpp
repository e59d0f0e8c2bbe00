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
    // and /rootfs.ext4 are the aarch64 vmm, guest kernel and rootfs, and
    // /initramfs.cpio the same tree as an initramfs. With Network::Bridge,
    // L1 has what `vmm boot --net bridge` needs (scripts/nested-kvm-arm64 --network).
    enum class Network {
        None,
        Bridge,
    };
    ProcessResult in_l1(std::string const& command, Network network = Network::None)
    {
        std::vector<std::string> arguments { VMM_SOURCE_DIR "/scripts/nested-kvm-arm64", "--build-dir", aarch64_build_dir(), "--timeout",
            std::to_string(nested_timeout_seconds), "--file", aarch64_build_dir() + "/guest/initramfs.cpio:/initramfs.cpio" };
        if (network == Network::Bridge)
            arguments.push_back("--network");
        arguments.insert(arguments.end(), { "--", "sh", "-c", command });
        auto result = run_process(arguments, nested_timeout_seconds + 100);
        std::erase(result.output, '\r');
        if (result.exit_status == unavailable_status)
            m_skip_reason = "nested arm64 KVM host unavailable: " + result.output;
        return result;
    }

    std::string m_skip_reason;
};

// The lines between "== NAME" and the next "== " line of OUTPUT.
std::string section(std::string const& output, std::string const& name)
{
    auto const header = "== " + name + "\n";
    auto start = output.find(header);
    if (start == std::string::npos)
        return {};
    start += header.size();
    auto const end = output.find("\n== ", start - 1);
    return output.substr(start, end == std::string::npos ? std::string::npos : end + 1 - start);
}

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
    // --timings: every milestone measured (none left as "-"), and the memory line.
    auto const timings = result.output.find("vmm: timings: vm created ");
    ASSERT_NE(timings, std::string::npos) << result.output;
    auto const timings_line = result.output.substr(timings, result.output.find('\n', timings) - timings);
    for (auto const* milestone : { "vm created", "first KVM_RUN", "boot marker", "exit" })
        EXPECT_NE(timings_line.find(std::string(milestone) + " ") , std::string::npos) << milestone << ": " << timings_line;
    EXPECT_EQ(timings_line.find(" -"), std::string::npos) << "a milestone was not reached: " << timings_line;
    EXPECT_NE(result.output.find("vmm: memory: resident "), std::string::npos) << result.output;
    // The wall time of one boot, for the record (vmm's own timings are in the output).
    std::cout << result.output << std::endl;
}

TEST_F(NestedArm64Guest, CommandExitStatusIsCarried)
{
    // From a guest on its root disk, and from one on --initrd alone (no disk:
    // no /dev/vda). A tar archive as ROOTFS needs vmm-unpack, which the
    // aarch64 build lacks (no libarchive in its sysroot): one line says so.
    auto const result = in_l1("echo '== initrd'; /vmm boot /Image --initrd /initramfs.cpio -- sh -c 'test -e /dev/vda || echo no-vda; exit 5'; "
                              "echo initrd-status=$?; echo '== tar'; tar -c -f /tmp/rootfs.tar -C /nested . && /vmm boot /Image /tmp/rootfs.tar -- true; "
                              "echo tar-status=$?; echo '== disk'; /vmm boot /Image /rootfs.ext4 -- sh -c 'exit 7'");
    SKIP_IF_UNAVAILABLE();
    EXPECT_EQ(result.exit_status, 7) << result.output;
    EXPECT_EQ(section(result.output, "initrd"), "no-vda\ninitrd-status=5\n") << result.output;
    EXPECT_EQ(section(result.output, "tar"), "vmm: /tmp/rootfs.tar: a tar archive as the root filesystem needs vmm-unpack, which this build of vmm "
                                             "(aarch64) does not have (no libarchive for it): give an ext4 image or a directory\ntar-status=1\n")
        << result.output;
}

TEST_F(NestedArm64Guest, WriteToVdaLandsInTheImage)
{
    // The second boot, read-only, reads what the first one wrote through
    // /dev/vda. The first runs under --jail (new namespaces, a cgroup of its
    // own on cgroup2 as on systemd hosts, only the kernel, the disk and
    // /dev/kvm to see, and the arm64 seccomp filters) and removes its cgroup.
    auto const result = in_l1("mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && "
                              "/vmm boot --jail /Image /rootfs.ext4 -- sh -c 'echo landed-on-vda > /written; echo jailed-$((6*7))' && "
                              "echo cgroups-left=$(ls /sys/fs/cgroup | grep -c vmm-container) && "
                              "/vmm boot /Image /rootfs.ext4,ro -- cat /written");
    SKIP_IF_UNAVAILABLE();
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("jailed-42\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("cgroups-left=0\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("landed-on-vda\n"), std::string::npos) << result.output;
}

TEST_F(NestedArm64Guest, TwoVcpusShowInProcCpuinfo)
{
    // On --hugepages: refused in one line while the pool is empty, then
    // booted from it (128 MiB: 64 pages of 2 MiB, all back in the pool after).
    auto const result = in_l1("echo '== no pool'; echo 0 > /proc/sys/vm/nr_hugepages; "
                              "/vmm boot /Image /rootfs.ext4 --hugepages --mem 128M -- true; echo status=$?; "
                              "echo '== pool'; echo 64 > /proc/sys/vm/nr_hugepages; "
                              "/vmm boot /Image /rootfs.ext4 --cpus 2 --hugepages --mem 128M -- grep -c ^processor /proc/cpuinfo && "
                              "grep HugePages_Free /proc/meminfo");
    SKIP_IF_UNAVAILABLE();
    EXPECT_EQ(result.exit_status, 0) << result.output;
    auto const refused = section(result.output, "no pool");
    EXPECT_NE(refused.find("vmm: mmap guest memory on huge pages: Cannot allocate memory (reserve enough in /proc/sys/vm/nr_hugepages)\nstatus=1\n"),
        std::string::npos) << refused;
    auto const pool = section(result.output, "pool");
    EXPECT_NE(pool.find("2\nHugePages_Free:"), std::string::npos) << pool;
    EXPECT_NE(pool.find("HugePages_Free:       64\n"), std::string::npos) << pool;
}

TEST_F(NestedArm64Guest, DumpedDeviceTreeNamesTheDevices)
{
    // --net bridge with either backend: eth0 on virtio-net (a virtio,mmio
    // node), a TAP on vmm0 in L1, the guest's ping of its gateway (L1's
    // bridge) answered. --dump-dtb writes the tree the guest got; dtc reads it here.
    std::string const ping_gateway = "ping -c 1 -W 10 $(ip route | sed -n \"s/^default via \\([0-9.]*\\).*/\\1/p\") >/dev/null && echo ping-ok";
    auto const result = in_l1("echo '== user'; VMM_NET_BACKEND=user /vmm boot /Image /rootfs.ext4 --net bridge -- sh -c '" + ping_gateway + "'; "
                              "echo status=$?; echo '== vhost'; cp /rootfs.ext4 /tmp/second.ext4 && "
                              "VMM_NET_BACKEND=vhost /vmm boot /Image /rootfs.ext4 --disk /tmp/second.ext4,ro --net bridge "
                              "--console virtio --dump-dtb /tmp/guest.dtb -- sh -c 'echo via-hvc0; " + ping_gateway + "' && base64 /tmp/guest.dtb",
        Network::Bridge);
    SKIP_IF_UNAVAILABLE();
    ASSERT_EQ(result.exit_status, 0) << result.output;
    EXPECT_EQ(section(result.output, "user"), "ping-ok\nstatus=0\n") << result.output;
    EXPECT_NE(section(result.output, "vhost").find("via-hvc0\nping-ok\n"), std::string::npos)
        << "virtio-console carried the command's output, and vhost-net its ping\n" << result.output;
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
    EXPECT_EQ(virtio_nodes, 4u) << "two disks, the network and the console\n" << decoded.output;
    EXPECT_NE(decoded.output.find("console=hvc0"), std::string::npos) << decoded.output;
}
