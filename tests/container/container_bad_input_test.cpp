// Bad input: one clear error line, a non-zero exit, and nothing left behind
// (no mount, no cgroup, no loop device; the fixture's TearDown checks all three).

#include "tests/container/ContainerTestSupport.h"

using namespace container_test;

namespace {

class ContainerBadInputTest : public ContainerTest {
protected:
    void expect_one_error_line(RunResult const& result, std::string const& expected)
    {
        EXPECT_NE(result.exit_status, 0) << describe(result);
        EXPECT_EQ(result.standard_output, "") << describe(result);
        auto const& error = result.standard_error;
        EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << describe(result);
        EXPECT_EQ(error.rfind("vmm: ", 0), 0u) << describe(result);
        EXPECT_NE(error.find(expected), std::string::npos) << "expected '" << expected << "' in: " << describe(result);
    }
};

TEST_F(ContainerBadInputTest, MissingRootfs)
{
    auto result = run_vmm({ "--container", "/nonexistent", "--", "/bin/true" });
    expect_one_error_line(result, "vmm: --container: /nonexistent: no such file or directory");
}

// vmm brings its own init; a tree without a shell needs a command, and a
// command it lacks is init's one-line execvp error (127).
TEST_F(ContainerBadInputTest, EmptyDirectoryHasNoShell)
{
    auto empty = scratch_directory() + "/empty-rootfs";
    ::mkdir(empty.c_str(), 0755);
    expect_one_error_line(run_vmm({ "--container", empty }), "rootfs " + empty + " has no shell to start (/bin/sh or /bin/bash): give a command after --");
    auto result = run_vmm({ "--container", empty, "--", "/bin/true" });
    EXPECT_EQ(result.exit_status, 127) << describe(result);
    EXPECT_NE(result.standard_error.find("execvp /bin/true: No such file or directory"), std::string::npos) << describe(result);
    EXPECT_EQ(::rmdir(empty.c_str()), 0) << "the run wrote into the tree";
}

TEST_F(ContainerBadInputTest, ImageWithoutALinuxTreeHasNoShell)
{
    auto image_path = scratch_directory() + "/no-tree.ext4";
    auto empty = scratch_directory() + "/no-tree";
    ::mkdir(empty.c_str(), 0755);
    ASSERT_EQ(std::system(("mke2fs -q -t ext4 -d " + empty + " -F " + image_path + " 8M").c_str()), 0);
    expect_one_error_line(run_vmm({ "--container", image_path }), "has no shell to start");
    EXPECT_EQ(loop_devices_backed_by(image_path), 0);
    ::unlink(image_path.c_str());
    ::rmdir(empty.c_str());
}

TEST_F(ContainerBadInputTest, ShellThatIsADanglingSymlink)
{
    auto tree = scratch_directory() + "/dangling-shell";
    ASSERT_EQ(std::system(("mkdir -p " + tree + "/bin && ln -sf /usr/bin/missing-shell " + tree + "/bin/sh").c_str()), 0);
    expect_one_error_line(run_vmm({ "--container", tree }), "(/bin/sh is a dangling symlink)");
    std::system(("rm -rf " + tree).c_str());
}

TEST_F(ContainerBadInputTest, ImageThatIsNotExt4)
{
    auto not_an_image = scratch_directory() + "/not-an-image";
    ASSERT_EQ(std::system(("head -c 1048576 /dev/zero > " + not_an_image).c_str()), 0);
    auto result = run_vmm({ "--container", not_an_image, "--", "/bin/true" });
    expect_one_error_line(result, not_an_image + ": neither an ext4 image nor a tar archive");
    EXPECT_EQ(loop_devices_backed_by(not_an_image), 0);
    ::unlink(not_an_image.c_str());
}

TEST_F(ContainerBadInputTest, TinyFileIsNotExt4)
{
    auto tiny = scratch_directory() + "/tiny";
    ASSERT_EQ(std::system(("echo hello > " + tiny).c_str()), 0);
    auto result = run_vmm({ "--container", tiny });
    expect_one_error_line(result, "neither an ext4 image nor a tar archive");
    ::unlink(tiny.c_str());
}

TEST_F(ContainerBadInputTest, DeviceIsNeitherDirectoryNorImage)
{
    auto result = run_vmm({ "--container", "/dev/null" });
    expect_one_error_line(result, "neither a directory, an ext4 image nor a tar archive");
}

TEST_F(ContainerBadInputTest, BadMemorySize)
{
    expect_one_error_line(run_vmm({ "--container", rootfs_directory, "--mem", "lots", "--", "/bin/true" }), "--mem");
    expect_one_error_line(run_vmm({ "--container", rootfs_directory, "--mem", "1K", "--", "/bin/true" }), "below the minimum");
}

TEST_F(ContainerBadInputTest, BadCpus)
{
    expect_one_error_line(run_vmm({ "--container", rootfs_directory, "--cpus", "0", "--", "/bin/true" }), "--cpus");
    expect_one_error_line(run_vmm({ "--container", rootfs_directory, "--cpus", "two", "--", "/bin/true" }), "--cpus");
    // More than the host has limits nothing.
    expect_one_error_line(run_vmm({ "--container", rootfs_directory, "--cpus", "4096", "--", "/bin/true" }), "CPUs this host lets vmm use");
}

TEST_F(ContainerBadInputTest, LimitsOfAnUnprivilegedUserNameTheCgroupHierarchy)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "running vmm as another user (nobody) needs root";
    // The rootfs must be readable by nobody; the test rootfs is.
    expect_one_error_line(run_vmm({ "--container", rootfs_directory, "--mem", "64M", "--", "/bin/true" }, 60, 65534),
        "need a cgroup of the container's own, made in /sys/fs/cgroup");
}

TEST_F(ContainerBadInputTest, BadPids)
{
    expect_one_error_line(run_vmm({ "--container", rootfs_directory, "--pids", "0", "--", "/bin/true" }), "--pids");
    expect_one_error_line(run_vmm({ "--container", rootfs_directory, "--pids", "-3", "--", "/bin/true" }), "--pids");
}

TEST_F(ContainerBadInputTest, BadNetwork)
{
    auto result = run_vmm({ "--container", rootfs_directory, "--net", "wifi", "--", "/bin/true" });
    EXPECT_NE(result.exit_status, 0) << describe(result);
    EXPECT_NE(result.standard_error.find("--net"), std::string::npos) << describe(result);
}

TEST_F(ContainerBadInputTest, BadHostname)
{
    expect_one_error_line(run_vmm({ "--container", rootfs_directory, "--hostname", std::string(100, 'h'), "--", "/bin/true" }), "--hostname");
}

// A tree on an overlay that is itself on an overlay takes no third level:
// the kernel's bare EINVAL is said in words, with what works instead.
TEST_F(ContainerBadInputTest, ATreeOnStackedOverlaysSaysWhy)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "mounting overlays needs root";
    auto const base = scratch_directory() + "/stacked";
    auto mount_overlay = [&](std::string const& lower, std::string const& name) {
        std::string const command = "mkdir -p " + base + "/" + name + "-upper " + base + "/" + name + "-work " + base + "/" + name
            + " && mount -t overlay overlay -o lowerdir=" + lower + ",upperdir=" + base + "/" + name + "-upper,workdir=" + base + "/" + name
            + "-work " + base + "/" + name;
        return std::system(command.c_str()) == 0;
    };
    ASSERT_TRUE(mount_overlay(rootfs_directory, "first"));
    ASSERT_TRUE(mount_overlay(base + "/first", "second"));
    auto result = run_vmm({ "--container", base + "/second", "--", "/bin/true" });
    std::system(("umount " + base + "/second " + base + "/first").c_str());
    expect_one_error_line(result, base + "/second: the tree is on an overlay file system, which takes no overlay of the container's over it here");
    EXPECT_NE(result.standard_error.find("--root-writes in-place"), std::string::npos) << describe(result);
}

// An empty value is given, not absent: each is refused with a line naming
// the option, instead of running without a limit, as root or in /.
TEST_F(ContainerBadInputTest, EmptyValuesAreRefused)
{
    for (auto const* option : { "--mem", "--cpus", "--pids", "-u", "-w" }) {
        auto result = run_vmm({ "--container", rootfs_directory, option, "", "--", "/bin/true" });
        SCOPED_TRACE(option);
        expect_one_error_line(result, std::string(option) == "-u" ? "--user" : std::string(option) == "-w" ? "--workdir" : option);
    }
    // Not the whole help on stdout: one line.
    expect_one_error_line(run_vmm({ "--container", "", "--", "/bin/true" }), "vmm: --container: an empty path");
}

// The tree's own /sbin/init is never what runs as PID 1.
TEST_F(ContainerBadInputTest, TheTreesOwnInitIsNotRun)
{
    auto rootfs = scratch_directory() + "/own-init";
    ASSERT_EQ(std::system(("rm -rf " + rootfs + " && cp -aH " + rootfs_directory + " " + rootfs + " && rm " + rootfs
                              + "/sbin/init && printf '#!/bin/sh\\necho wrong-init\\n' > " + rootfs + "/sbin/init && chmod +x " + rootfs + "/sbin/init")
                              .c_str()),
        0);
    auto result = run_vmm({ "--container", rootfs, "--", "/bin/echo", "right-init" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "right-init\n") << describe(result);
    std::system(("rm -rf " + rootfs).c_str());
}

}
