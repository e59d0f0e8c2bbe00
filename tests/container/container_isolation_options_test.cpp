// The flags that leave one layer of `vmm --container`'s isolation out
// (--security-opt, --cgroups disabled, --root-writes in-place): what each
// changes in the spec, what a container then sees, and the flags' refusals.

#include "tests/container/ContainerTestSupport.h"

#include "common/Error.h"
#include "container/Capabilities.h"
#include "container/OptionsSpec.h"

#include <linux/capability.h>

using namespace container_test;
using namespace vmm::container;

namespace {

ContainerOptions options_for_true()
{
    ContainerOptions options;
    options.rootfs = rootfs_directory;
    options.command = { "/bin/true" };
    return options;
}

TEST(ContainerIsolationOptions, DefaultsKeepEveryLayer)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "root's defaults (a cgroup with the device allowlist) need root";
    auto spec = spec_from_options(options_for_true());
    EXPECT_EQ(spec.seccomp_kind, SeccompKind::Builtin);
    EXPECT_FALSE(spec.masked_paths.empty());
    EXPECT_FALSE(spec.readonly_paths.empty());
    EXPECT_FALSE(spec.cgroups_path.empty());
    EXPECT_TRUE(spec.restrict_devices);
    EXPECT_NE(spec.process.capabilities.bounding & (uint64_t(1) << CAP_MKNOD), 0u);
    EXPECT_EQ(spec.directory_writes, DirectoryWrites::Overlay);
}

TEST(ContainerIsolationOptions, EachFlagLeavesOutItsLayerOnly)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "root's defaults (a cgroup with the device allowlist) need root";
    auto const defaults = spec_from_options(options_for_true());

    auto options = options_for_true();
    options.seccomp = SeccompMode::Unconfined;
    auto spec = spec_from_options(options);
    EXPECT_EQ(spec.seccomp_kind, SeccompKind::None);
    EXPECT_EQ(spec.masked_paths, defaults.masked_paths);
    EXPECT_FALSE(spec.cgroups_path.empty());

    options = options_for_true();
    options.system_paths = SystemPaths::Unconfined;
    spec = spec_from_options(options);
    EXPECT_TRUE(spec.masked_paths.empty());
    EXPECT_TRUE(spec.readonly_paths.empty());
    EXPECT_EQ(spec.seccomp_kind, SeccompKind::Builtin);

    options = options_for_true();
    options.cgroups = CgroupMode::Disabled;
    spec = spec_from_options(options);
    EXPECT_TRUE(spec.cgroups_path.empty());
    // Without the device cgroup nothing would limit which devices it makes.
    EXPECT_FALSE(spec.restrict_devices);
    EXPECT_EQ(spec.process.capabilities.bounding & (uint64_t(1) << CAP_MKNOD), 0u);
    EXPECT_EQ(spec.seccomp_kind, SeccompKind::Builtin);

    options = options_for_true();
    options.directory_writes = DirectoryWrites::InPlace;
    spec = spec_from_options(options);
    EXPECT_EQ(spec.directory_writes, DirectoryWrites::InPlace);
    EXPECT_FALSE(spec.cgroups_path.empty());
}

TEST(ContainerIsolationOptions, LimitsWithoutACgroupAreRefused)
{
    auto options = options_for_true();
    options.cgroups = CgroupMode::Disabled;
    options.pids_limit = 10;
    try {
        spec_from_options(options);
        FAIL() << "--cgroups disabled with --pids was accepted";
    } catch (vmm::Error const& error) {
        EXPECT_NE(std::string(error.what()).find("--cgroups disabled"), std::string::npos) << error.what();
    }
}

class ContainerIsolationOptionsRun : public ContainerTest { };

TEST_F(ContainerIsolationOptionsRun, SeccompUnconfinedRunsWithoutAFilter)
{
    auto const script = "grep '^Seccomp:' /proc/self/status";
    auto confined = run_shell(rootfs_directory, script);
    EXPECT_EQ(confined.standard_output, "Seccomp:\t2\n") << describe(confined);
    auto unconfined = run_shell(rootfs_directory, script, { "--security-opt", "seccomp=unconfined" });
    EXPECT_EQ(unconfined.exit_status, 0) << describe(unconfined);
    EXPECT_EQ(unconfined.standard_output, "Seccomp:\t0\n") << describe(unconfined);
}

TEST_F(ContainerIsolationOptionsRun, SystemPathsUnconfinedLeavesProcUnmasked)
{
    // The masked and read-only paths are mounts below /proc and /sys.
    auto const script = "awk '$5 ~ \"^/(proc|sys)/\" && $5 !~ \"^/sys/fs/cgroup\"' /proc/self/mountinfo | wc -l";
    auto masked = run_shell(rootfs_directory, script);
    EXPECT_NE(masked.standard_output, "0\n") << describe(masked);
    auto unmasked = run_shell(rootfs_directory, script, { "--security-opt", "systempaths=unconfined" });
    EXPECT_EQ(unmasked.exit_status, 0) << describe(unmasked);
    EXPECT_EQ(unmasked.standard_output, "0\n") << describe(unmasked);
}

TEST_F(ContainerIsolationOptionsRun, TheContainerSeesItsOwnCgroupReadOnly)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "a cgroup of the container's own needs root here";
    // Its limits where programs look for them (v2: one directory; v1: a
    // hierarchy each), only its own processes, and nothing it can change.
    auto const script = "cd /sys/fs/cgroup; "
                        "if [ -e cgroup.controllers ]; then pids=.; cat memory.max; else pids=pids; cat memory/memory.limit_in_bytes; fi; "
                        "cat $pids/pids.max; grep -x 1 $pids/cgroup.procs; wc -l <$pids/cgroup.procs; ls; "
                        "mkdir probe $pids/probe 2>&1; (echo 5 >$pids/pids.max) 2>&1; cat $pids/pids.max";
    auto result = run_shell(rootfs_directory, script, { "--mem", "64M", "--pids", "99" });
    ASSERT_EQ(result.exit_status, 0) << describe(result);
    auto const& output = result.standard_output;
    // The limits, then PID 1 (init) among three processes (init, sh, wc), and no host process.
    EXPECT_EQ(output.rfind("67108864\n99\n1\n3\n", 0), 0u) << describe(result);
    EXPECT_TRUE(output.ends_with("\n99\n")) << "the limit stays:\n" << describe(result);
    // v1: only the hierarchies the container has a cgroup of its own in,
    // not the freezer or systemd's, where it would see the runtime's cgroup.
    EXPECT_EQ(output.find("freezer"), std::string::npos) << describe(result);
    EXPECT_EQ(output.find("systemd"), std::string::npos) << describe(result);
    EXPECT_EQ(output.find("unified"), std::string::npos) << describe(result);
    EXPECT_NE(output.find("Read-only file system"), std::string::npos) << describe(result);
}

TEST_F(ContainerIsolationOptionsRun, CgroupsDisabledMakesNoCgroupAndDropsMknod)
{
    auto result = run_shell(rootfs_directory, "grep '^CapBnd:' /proc/self/status; mknod /tmp/null c 1 3 && echo made; "
        "grep -c ' /sys/fs/cgroup' /proc/self/mountinfo", { "--cgroups", "disabled" });
    EXPECT_NE(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output.find("made"), std::string::npos) << describe(result);
    // No cgroup of its own to show at /sys/fs/cgroup.
    EXPECT_NE(result.standard_output.find("\n0\n"), std::string::npos) << describe(result);
    auto const bounding = std::stoull(result.standard_output.substr(result.standard_output.find('\t') + 1), nullptr, 16);
    EXPECT_EQ(bounding & (uint64_t(1) << CAP_MKNOD), 0u) << describe(result);
    // TearDown checks that no vmm-container-PID cgroup exists; none was made
    // while it ran either, which its own cgroup path shows from the host.
    auto pid = start_vmm_until_output({ "--container", rootfs_directory, "--cgroups", "disabled", "--", "/bin/sh", "-c", "echo up; sleep 30" });
    ASSERT_GT(pid, 0);
    EXPECT_EQ(leftover_cgroups(), std::vector<std::string> {});
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
}

TEST_F(ContainerIsolationOptionsRun, RootWritesInPlaceChangeTheDirectory)
{
    auto tree = make_foreign_tree(scratch_directory() + "/in-place");
    ASSERT_FALSE(tree.empty());
    auto layered = run_vmm({ "--container", tree, "--", "/bin/bash", "-c", "echo layered > /written" });
    EXPECT_EQ(layered.exit_status, 0) << describe(layered);
    EXPECT_FALSE(path_exists(tree + "/written")) << "the overlay let a write through to the tree";
    auto in_place = run_vmm({ "--container", tree, "--root-writes", "in-place", "--", "/bin/bash", "-c", "echo in-place > /written" });
    EXPECT_EQ(in_place.exit_status, 0) << describe(in_place);
    std::ifstream written(tree + "/written");
    std::string line;
    EXPECT_TRUE(std::getline(written, line));
    EXPECT_EQ(line, "in-place");
    // The bound tree is nosuid and nodev, as the overlay is.
    auto options = run_vmm({ "--container", tree, "--root-writes", "in-place", "--", "/bin/bash", "-c", "while read -r id parent device root point options rest; do [ \"$point\" = / ] && echo \"$options\"; done < /proc/self/mountinfo; true" });
    EXPECT_EQ(options.exit_status, 0) << describe(options);
    EXPECT_NE(options.standard_output.find("nosuid"), std::string::npos) << describe(options);
    EXPECT_NE(options.standard_output.find("nodev"), std::string::npos) << describe(options);
}

TEST_F(ContainerIsolationOptionsRun, BadValuesAreOneLineErrors)
{
    auto archive = scratch_directory() + "/tree.tar";
    ASSERT_EQ(std::system(("tar -C " + rootfs_directory + " -cf " + archive + " ./bin/busybox ./bin/sh").c_str()), 0);
    auto refused = run_vmm({ "--container", archive, "--root-writes", "in-place", "--", "/bin/true" });
    EXPECT_EQ(refused.exit_status, 1) << describe(refused);
    EXPECT_NE(refused.standard_error.find("--root-writes in-place takes a directory"), std::string::npos) << describe(refused);
    EXPECT_EQ(std::count(refused.standard_error.begin(), refused.standard_error.end(), '\n'), 1) << describe(refused);
    for (auto const& arguments : std::vector<std::vector<std::string>> {
             { "--security-opt", "apparmor=unconfined" }, { "--cgroups", "maybe" }, { "--root-writes", "elsewhere" }, { "--cgroups", "disabled", "--mem", "64M" } }) {
        std::vector<std::string> command { "--container", rootfs_directory };
        command.insert(command.end(), arguments.begin(), arguments.end());
        command.insert(command.end(), { "--", "/bin/true" });
        auto result = run_vmm(command);
        EXPECT_NE(result.exit_status, 0) << arguments[0] << ": " << describe(result);
        EXPECT_NE(result.standard_error.find(arguments[0]), std::string::npos) << describe(result);
    }
}

}
