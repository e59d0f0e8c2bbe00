// Where a container's writes go: the root's overlay is volatile (its layer
// is removed at exit, so fsync there does not wait for the disk; a pooled
// layer never keeps the work directory that makes a volatile overlay refuse
// the next mount), and --volume binds a host directory or file whose
// writes outlive the container.

#include "tests/container/ContainerTestSupport.h"

#include "common/Error.h"
#include "container/OptionsSpec.h"
#include "container/WritableLayer.h"

#include <fstream>
#include <sys/prctl.h>

using namespace container_test;
using namespace vmm::container;

namespace {

std::string parse_error(std::string const& text)
{
    try {
        parse_volume(text);
    } catch (vmm::Error const& error) {
        return error.what();
    }
    return {};
}

TEST(ContainerVolumeOption, ParsesPathsAndAccess)
{
    auto volume = parse_volume("/tmp:/data");
    EXPECT_EQ(volume.host_path, std::filesystem::canonical("/tmp").string());
    EXPECT_EQ(volume.container_path, "/data");
    EXPECT_EQ(volume.access, VolumeAccess::ReadWrite);
    EXPECT_EQ(parse_volume("/tmp:/data:ro").access, VolumeAccess::ReadOnly);
    EXPECT_EQ(parse_volume("/tmp:/data:rw").access, VolumeAccess::ReadWrite);
    // A relative path is the working directory's, with its symlinks resolved.
    EXPECT_EQ(parse_volume(".:/data").host_path, std::filesystem::canonical(".").string());
}

TEST(ContainerVolumeOption, BadValuesNameTheValueAndTheProblem)
{
    EXPECT_NE(parse_error("/tmp").find("expected HOST_PATH:PATH"), std::string::npos);
    EXPECT_NE(parse_error("/tmp:/a:ro:x").find("expected HOST_PATH:PATH"), std::string::npos);
    EXPECT_NE(parse_error("/tmp:/a:rx").find("unknown option 'rx'"), std::string::npos);
    EXPECT_NE(parse_error("data:/a").find("named volumes are not supported"), std::string::npos);
    EXPECT_NE(parse_error("/no/such/vmm-volume:/a").find("No such file or directory"), std::string::npos);
    EXPECT_NE(parse_error("/tmp:relative").find("PATH must be absolute"), std::string::npos);
    EXPECT_NE(parse_error("/tmp://").find("cannot be the container's root"), std::string::npos);
    EXPECT_NE(parse_error("/tmp:relative").find("--volume '/tmp:relative'"), std::string::npos);
}

TEST(ContainerVolumeOption, EachVolumeIsARecursivePrivateBindAfterTheDefaults)
{
    ContainerOptions options;
    options.rootfs = rootfs_directory;
    options.command = { "/bin/true" };
    options.volumes = { parse_volume("/tmp:/data:ro"), parse_volume("/tmp:/more") };
    auto spec = spec_from_options(options);
    ASSERT_GE(spec.mounts.size(), 2u);
    auto const& read_only = spec.mounts[spec.mounts.size() - 2];
    EXPECT_EQ(read_only.destination, "/data");
    EXPECT_EQ(read_only.type, "bind");
    EXPECT_EQ(read_only.options, (std::vector<std::string> { "rbind", "rprivate", "ro" }));
    EXPECT_EQ(spec.mounts.back().destination, "/more");
    EXPECT_EQ(spec.mounts.back().options, (std::vector<std::string> { "rbind", "rprivate" }));
}

TEST(WritableLayerPool, AStartThatFailedEarlyPoolsNoStaleWork)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "the writable layers live in " << writable_layers_directory << ", root's";
    // The layer's owner is this process: named so that a container started
    // meanwhile (ctest runs tests side by side) does not sweep it as stale.
    char name[16] {};
    ::prctl(PR_GET_NAME, name);
    ::prctl(PR_SET_NAME, "vmm-layer-test");
    auto const pool = std::string(writable_layers_directory) + "/.pool";
    auto pooled_stale_work = [&] {
        int count = 0;
        std::error_code error;
        for (auto const& slot : std::filesystem::directory_iterator(pool, error))
            count += std::filesystem::exists(slot.path() / "stale-work");
        return count;
    };
    auto leave_volatile_work = [](std::string const& work) {
        std::filesystem::create_directories(work + "/incompat/volatile");
        std::ofstream(work + "/incompat/volatile/dirty").flush();
    };
    // A layer in the pool first, for the next one to be claimed from it (as
    // a container's is): containers that tests run meanwhile may have taken
    // every pooled one, and a new layer has no stale work to remove.
    { WritableLayer seed(::getpid(), { 0, 1 }, { 0, 1 }); }
    {
        WritableLayer layer(::getpid(), { 0, 1 }, { 0, 1 });
        // What volatile mounts leave: the last container's work directory,
        // moved aside at the claim, and this one's.
        leave_volatile_work(layer.path() + "/stale-work");
        leave_volatile_work(layer.path() + "/work/work");
        // Gone without remove_stale_work(), as when a start fails before it.
    }
    EXPECT_EQ(pooled_stale_work(), 0) << "a pooled layer keeps a stale work directory";
    {
        WritableLayer layer(::getpid(), { 0, 1 }, { 0, 1 });
        EXPECT_FALSE(path_exists(layer.path() + "/work/work")) << "overlayfs refuses a work/work with incompat/volatile";
        layer.remove_stale_work();
        EXPECT_FALSE(path_exists(layer.path() + "/stale-work"));
    }
    ::prctl(PR_SET_NAME, name);
}

class ContainerVolumeRun : public ContainerTest {
protected:
    std::string make_volume(std::string const& name)
    {
        auto path = scratch_directory() + "/" + name;
        std::filesystem::create_directories(path);
        std::ofstream(path + "/from-host") << "host\n";
        return path;
    }
};

TEST_F(ContainerVolumeRun, WritesReachTheHostDirectory)
{
    auto volume = make_volume("volume-rw");
    auto result = run_shell(rootfs_directory, "cat /data/from-host; echo container > /data/written; sync -f /data/written",
        { "--volume", volume + ":/data" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "host\n") << describe(result);
    std::ifstream written(volume + "/written");
    std::string line;
    EXPECT_TRUE(std::getline(written, line)) << "the container's write did not reach the volume";
    EXPECT_EQ(line, "container");
}

TEST_F(ContainerVolumeRun, ReadOnlyVolumeRefusesWrites)
{
    auto volume = make_volume("volume-ro");
    auto result = run_shell(rootfs_directory, "cat /data/from-host; echo no > /data/written", { "--volume", volume + ":/data:ro" });
    EXPECT_NE(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "host\n") << describe(result);
    EXPECT_NE(result.standard_error.find("Read-only file system"), std::string::npos) << describe(result);
    EXPECT_FALSE(path_exists(volume + "/written"));
}

TEST_F(ContainerVolumeRun, VolumeInAnImageRootAndMissingTargetsAreMade)
{
    auto volume = make_volume("volume-image");
    auto result = run_shell(image(), "cat /new/dir/from-host", { "--volume", volume + ":/new/dir" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "host\n") << describe(result);
}

TEST_F(ContainerVolumeRun, AFileVolumeIsBoundAsAFile)
{
    auto volume = make_volume("volume-file");
    auto result = run_shell(rootfs_directory, "[ -f /etc/from-host ] && cat /etc/from-host", { "--volume", volume + "/from-host:/etc/from-host:ro" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "host\n") << describe(result);
}

TEST_F(ContainerVolumeRun, VolumeBelowTheRootfsIsTheHostsDirectoryNotTheOverlays)
{
    // The overlay is attached over the rootfs directory: a volume from
    // inside that tree must still be the host's directory (as scripts/compare
    // binds ROOTFS/var/tmp), not the overlay's view of it.
    auto tree = make_foreign_tree(scratch_directory() + "/volume-tree");
    ASSERT_FALSE(tree.empty());
    std::filesystem::create_directories(tree + "/var/tmp");
    auto result = run_vmm({ "--container", tree, "--volume", tree + "/var/tmp:/var/tmp", "--", "/bin/bash", "-c", "echo kept > /var/tmp/written" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    std::ifstream written(tree + "/var/tmp/written");
    std::string line;
    EXPECT_TRUE(std::getline(written, line)) << "the write went to the overlay's layer";
    EXPECT_EQ(line, "kept");
}

TEST_F(ContainerVolumeRun, BadVolumeIsOneLineAndStartsNothing)
{
    auto result = run_vmm({ "--container", rootfs_directory, "--volume", "/no/such/vmm-volume:/data", "--", "/bin/true" });
    EXPECT_EQ(result.exit_status, 1) << describe(result);
    EXPECT_NE(result.standard_error.find("--volume '/no/such/vmm-volume:/data'"), std::string::npos) << describe(result);
    EXPECT_EQ(std::count(result.standard_error.begin(), result.standard_error.end(), '\n'), 1) << describe(result);
}

// A volume at /dev is the container's /dev as it is: vmm wrote its device
// nodes and links into the host directory (and failed on a read-only one).
TEST_F(ContainerVolumeRun, AVolumeAtDevIsNeverWritten)
{
    auto volume = make_volume("volume-dev");
    for (auto const* access : { ":rw", ":ro" }) {
        auto result = run_shell(rootfs_directory, "ls /dev", { "--volume", volume + ":/dev" + access });
        EXPECT_EQ(result.exit_status, 0) << access << "\n" << describe(result);
        EXPECT_EQ(result.standard_output, "from-host\n") << access << "\n" << describe(result);
        std::vector<std::string> names;
        for (auto const& entry : std::filesystem::directory_iterator(volume))
            names.push_back(entry.path().filename().string());
        EXPECT_EQ(names, std::vector<std::string> { "from-host" }) << access << ": vmm wrote into the volume";
    }
}

// The kernel says EINVAL, and a symlink on the way was named as the target.
TEST_F(ContainerVolumeRun, AMismatchedOrSymlinkedTargetIsNamed)
{
    auto volume = make_volume("volume-mismatch");
    auto const file = volume + "/from-host";
    auto file_over_directory = run_vmm({ "--container", rootfs_directory, "--volume", file + ":/etc", "--", "/bin/true" });
    EXPECT_EQ(file_over_directory.standard_error, "vmm: --container: mount /etc: " + file + " is a file, which cannot be bound over a directory\n")
        << describe(file_over_directory);
    EXPECT_EQ(file_over_directory.exit_status, 1);
    auto directory_over_file = run_vmm({ "--container", rootfs_directory, "--volume", volume + ":/etc/passwd", "--", "/bin/true" });
    EXPECT_EQ(directory_over_file.standard_error,
        "vmm: --container: mount /etc/passwd: " + volume + " is a directory, which cannot be bound over a file\n")
        << describe(directory_over_file);

    auto const tree = scratch_directory() + "/symlinked-lib";
    ASSERT_EQ(std::system(("rm -rf " + tree + " && cp -aH " + rootfs_directory + " " + tree + " && mkdir -p " + tree + "/usr/lib && ln -s usr/lib "
                              + tree + "/lib")
                              .c_str()),
        0);
    auto through_symlink = run_vmm({ "--container", tree, "--volume", volume + ":/lib/data", "--", "/bin/true" });
    EXPECT_EQ(through_symlink.standard_error, "vmm: --container: /lib/data: /lib on the way is a symlink (refusing to follow it to a mount target)\n")
        << describe(through_symlink);
    EXPECT_FALSE(path_exists(tree + "/usr/lib/data")) << "the symlink was followed";
    std::system(("rm -rf " + tree).c_str());
}

TEST_F(ContainerVolumeRun, RootOverlayIsVolatileAndItsLayerServesTheNextContainer)
{
    // Read the root's super options: "volatile" (Linux 5.10) or, from 6.x
    // on, "fsync=volatile".
    auto const script = "while read -r id parent device root point options rest; do [ \"$point\" = / ] && echo \"$rest\"; done < /proc/self/mountinfo; true";
    for (int run = 0; run < 3; ++run) {
        // A volatile mount leaves work/incompat/volatile, which would keep
        // the next mount of the same layer from succeeding.
        auto result = run_shell(rootfs_directory, script);
        ASSERT_EQ(result.exit_status, 0) << "run " << run << ": " << describe(result);
        EXPECT_NE(result.standard_output.find("overlay"), std::string::npos) << describe(result);
        EXPECT_NE(result.standard_output.find("volatile"), std::string::npos) << describe(result);
    }
    // A start that fails after the overlay is mounted (here: a volume over
    // the tree's symlink /init, refused) returns its layer to the pool with
    // the volatile mount's work directory: the next starts still mount it.
    for (int run = 0; run < 2; ++run) {
        auto refused = run_vmm({ "--container", rootfs_directory, "--volume", "/tmp:/init", "--", "/bin/true" });
        EXPECT_EQ(refused.exit_status, 1) << describe(refused);
        EXPECT_NE(refused.standard_error.find("symlink"), std::string::npos) << describe(refused);
        auto after = run_shell(rootfs_directory, "true");
        EXPECT_EQ(after.exit_status, 0) << "after a failed start: " << describe(after);
    }
    // An image root is the image's own ext4, which keeps its fsync.
    auto image_root = run_shell(image(), script);
    EXPECT_EQ(image_root.exit_status, 0) << describe(image_root);
    EXPECT_EQ(image_root.standard_output.find("volatile"), std::string::npos) << describe(image_root);
}

}
