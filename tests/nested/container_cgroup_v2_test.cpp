// vmm --container's cgroup v2 limits, on a host where memory, pids and cpu
// are v2 controllers: the nested host of scripts/nested-kvm, with cgroup2
// mounted the way systemd hosts have it. (The development hosts bind those
// controllers to cgroup v1, where the v1 path is tested.)
#include "tests/support/NestedHost.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using vmm::testing::nested_unavailable_status;
using vmm::testing::run_nested;
using vmm::testing::run_process;

namespace {

// Runs `script` in L1 as root, from a tmpfs root (pivot_root refuses L1's
// initramfs root) with cgroup2 at /sys/fs/cgroup and the rootfs at /rootfs.
vmm::testing::ProcessResult run_in_l1(std::string const& script, std::vector<std::string> const& extra_options = {})
{
    auto const tar = std::filesystem::temp_directory_path() / ("vmm-cgroup-v2-rootfs-" + std::to_string(getpid()) + ".tar");
    auto const packed = run_process({ "tar", "-cf", tar.string(), "-C", VMM_BUILD_DIR "/guest/rootfs", "." });
    if (packed.exit_status != 0)
        return packed;
    // First, on the initramfs root itself: one clear error, nothing left.
    std::string const setup = "mkdir -p /initramfs-rootfs /sys/fs/cgroup && tar -xf /rootfs.tar -C /initramfs-rootfs && mount -t cgroup2 none /sys/fs/cgroup && "
                              "echo \"+memory +pids +cpu\" >/sys/fs/cgroup/cgroup.subtree_control && "
                              "/vmm --container /initramfs-rootfs -- true 2>&1; echo initramfs-status=$?; rm -rf /initramfs-rootfs; umount /sys/fs/cgroup; "
                              "mkdir -p /newroot && mount -t tmpfs tmpfs /newroot && "
                              "for path in /bin /sbin /usr /lib /lib64 /etc /vmm /rootfs.tar /oci-config.json; do [ -e $path ] && cp -a $path /newroot/; done; "
                              "mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/rootfs && "
                              "mount --rbind /proc /newroot/proc && mount --rbind /sys /newroot/sys && mount --rbind /dev /newroot/dev && "
                              "exec chroot /newroot /bin/sh -c '"
                              "tar -xf /rootfs.tar -C /rootfs && mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && "
                              "echo \"+memory +pids +cpu\" >/sys/fs/cgroup/cgroup.subtree_control && "
        + script + "'";
    std::vector<std::string> options { "--file", tar.string() + ":/rootfs.tar" };
    options.insert(options.end(), extra_options.begin(), extra_options.end());
    auto result = run_nested({ .options = options, .command = { "sh", "-c", setup } });
    std::filesystem::remove(tar);
    return result;
}

}

TEST(ContainerCgroupV2, LimitsAndDevicesAreEnforcedAndTheCgroupIsRemoved)
{
    ASSERT_TRUE(std::filesystem::exists(VMM_BUILD_DIR "/guest/rootfs/usr/bin/container-probe")) << "build, then run guest/build-rootfs";
    auto const result = run_in_l1(
        "/vmm --container /rootfs --mem 32M -- /usr/bin/container-probe allocate 256; echo oom-status=$?; "
        "/vmm --container /rootfs --pids 20 -- /usr/bin/container-probe fork-bomb; "
        "/vmm --container /rootfs --cpus 0.5 --mem 64M -- /usr/bin/container-probe allocate 16; echo fits-status=$?; "
        "/vmm --container /rootfs -- /usr/bin/container-probe mknod-open /dev/kmsg2 c 1 11; echo kmsg-status=$?; "
        "/vmm --container /rootfs -- /bin/sh -c \"echo x >/dev/null && head -c 2 /dev/urandom | wc -c\"; echo null-status=$?; "
        "/vmm --container /rootfs --mem 64M -- /bin/sh -c \"cat /sys/fs/cgroup/memory.max; echo 1 >/sys/fs/cgroup/memory.max\"; echo view-status=$?; "
        "echo leftover=$(find /sys/fs/cgroup -mindepth 1 -type d | wc -l)");
    if (result.exit_status == nested_unavailable_status)
        GTEST_SKIP() << "nested SVM KVM host unavailable: " << result.output;
    EXPECT_EQ(result.exit_status, 0) << result.output;
    EXPECT_NE(result.output.find("oom-status=137"), std::string::npos) << "allocating past --mem is OOM-killed:\n" << result.output;
    // memory.events counts the kill, and a note names it.
    EXPECT_NE(result.output.find("the container ran out of memory (its limit is 32.0 MiB)"), std::string::npos) << result.output;
    auto const position = result.output.find("fork failed after ");
    ASSERT_NE(position, std::string::npos) << result.output;
    EXPECT_LE(std::atoi(result.output.c_str() + position + 18), 18) << result.output;
    EXPECT_NE(result.output.find("fits-status=0"), std::string::npos) << result.output;
    // The BPF device program: /dev/kmsg (c 1:11) is refused, /dev/null works.
    EXPECT_NE(result.output.find("kmsg-status=1\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("2\nnull-status=0"), std::string::npos) << result.output;
    // Its own cgroup, read-only, at /sys/fs/cgroup (the namespace's root).
    EXPECT_NE(result.output.find("67108864\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("Read-only file system"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("view-status=1\n"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("leftover=0"), std::string::npos) << "every container's cgroup is removed:\n" << result.output;
    // On the initramfs root pivot_root cannot work: one line that says why and what to do.
    EXPECT_NE(result.output.find("the host's / is its initramfs (rootfs), which a container cannot be pivoted away from"), std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("initramfs-status=1\n"), std::string::npos) << result.output;
}

TEST(ContainerCgroupV2, AnOciContainerWithoutACgroupNamespaceSeesOnlyItsOwnCgroup)
{
    // An OCI bundle over /rootfs without a cgroup namespace (podman's
    // --cgroupns=host): its cgroup directory is bound at /sys/fs/cgroup.
    // Without that, cgroup2 mounted in the host's namespace shows the root.
    auto const bundle = std::filesystem::temp_directory_path() / ("vmm-oci-bundle-" + std::to_string(getpid()));
    std::filesystem::create_directories(bundle);
    ASSERT_EQ(run_process({ VMM_BUILD_DIR "/vmm", "oci", "spec", "--bundle", bundle.string() }).exit_status, 0);
    auto config = nlohmann::json::parse(std::ifstream(bundle / "config.json"), nullptr, false);
    std::filesystem::remove_all(bundle);
    ASSERT_FALSE(config.is_discarded());
    config["root"] = { { "path", "/rootfs" }, { "readonly", false } };
    config["process"]["terminal"] = false;
    config["process"]["args"] = { "sh", "-c", "cat /sys/fs/cgroup/memory.max; wc -l </sys/fs/cgroup/cgroup.procs; ls /sys/fs/cgroup | grep -c -e vmm- -e init.scope; true" };
    config["linux"]["resources"]["memory"]["limit"] = 64 << 20;
    auto& namespaces = config["linux"]["namespaces"];
    namespaces.erase(std::remove_if(namespaces.begin(), namespaces.end(), [](auto const& space) { return space["type"] == "cgroup"; }), namespaces.end());
    auto const file = std::filesystem::temp_directory_path() / ("vmm-oci-config-" + std::to_string(getpid()) + ".json");
    std::ofstream(file) << config.dump(2);
    auto const result = run_in_l1("mkdir -p /bundle && cp /oci-config.json /bundle/config.json && /vmm oci --root /run/vmm-test run --bundle /bundle binds; echo oci-status=$?",
        { "--file", file.string() + ":/oci-config.json" });
    std::filesystem::remove(file);
    if (result.exit_status == nested_unavailable_status)
        GTEST_SKIP() << "nested SVM KVM host unavailable: " << result.output;
    EXPECT_NE(result.output.find("67108864\n2\n0\noci-status=0"), std::string::npos) << "the limit, sh and wc, and no other cgroup:\n" << result.output;
}
