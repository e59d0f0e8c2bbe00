// vmm --container ROOTFS,ro: a read-only root, as vmm boot's PATH,ro; an
// ext4 image is then shared with its other read-only users.

#include "tests/container/ContainerTestSupport.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <thread>

using namespace container_test;

namespace {

class ContainerReadOnlyRootTest : public ContainerTest { };

// The root refuses writes; the tmpfs mounts (/dev/shm, and /tmp as in the
// VM) and the volumes keep theirs.
constexpr char const* write_script = "touch /new 2>&1; echo x >/dev/shm/x && cat /dev/shm/x; echo y >/tmp/y && cat /tmp/y; "
                                     "grep -c ' / [a-z0-9]* ro,' /proc/mounts";

}

TEST_F(ContainerReadOnlyRootTest, ADirectoryIsReadOnlyAndUntouched)
{
    auto result = run_shell(rootfs_directory + ",ro", write_script);
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "touch: /new: Read-only file system\nx\ny\n1\n") << describe(result);
    EXPECT_FALSE(path_exists(rootfs_directory + "/new"));
}

TEST_F(ContainerReadOnlyRootTest, AnImageIsSharedByReadersAndRefusedToAWriter)
{
    auto result = run_shell(image() + ",ro", write_script);
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "touch: /new: Read-only file system\nx\ny\n1\n") << describe(result);

    // While one reader runs, a second reader starts, and a writer is refused.
    RunResult first;
    std::thread reader([&] { first = run_shell(image() + ",ro", "sleep 2; echo first"); });
    ::usleep(700 * 1000);
    auto second = run_shell(image() + ",ro", "echo second");
    auto writer = run_shell(image(), "echo writer");
    reader.join();
    EXPECT_EQ(first.standard_output, "first\n") << describe(first);
    EXPECT_EQ(second.exit_status, 0) << describe(second);
    EXPECT_EQ(second.standard_output, "second\n") << describe(second);
    EXPECT_EQ(writer.exit_status, 1) << describe(writer);
    EXPECT_NE(writer.standard_error.find("is in use by PID"), std::string::npos) << describe(writer);
    // The image was opened read-only: its modification time stays.
    struct stat before {};
    ASSERT_EQ(::stat(image().c_str(), &before), 0);
    run_shell(image() + ",ro", "true");
    struct stat after {};
    ASSERT_EQ(::stat(image().c_str(), &after), 0);
    EXPECT_EQ(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
    EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
}

TEST_F(ContainerReadOnlyRootTest, AnImageWithAJournalToReplayIsRefusedReadOnlyAndReplayedReadWrite)
{
    // debugfs marks the copy as not unmounted cleanly.
    auto const copy = scratch_directory() + "/needs-recovery.ext4";
    ASSERT_EQ(std::system(("cp --sparse=always " + image() + " " + copy + " && debugfs -w -R 'feature needs_recovery' " + copy + " >/dev/null 2>&1").c_str()), 0);
    auto refused = run_shell(copy + ",ro", "true");
    EXPECT_EQ(refused.exit_status, 1) << describe(refused);
    EXPECT_EQ(refused.standard_error, "vmm: --container: " + copy + ": its journal needs recovery (it was not unmounted cleanly), "
                                      "which a read-only user cannot do: use it read-write once, or run e2fsck -p on it\n")
        << describe(refused);
    // A read-write run replays it; then a reader may.
    EXPECT_EQ(run_shell(copy, "true").exit_status, 0);
    auto reader = run_shell(copy + ",ro", "echo clean");
    EXPECT_EQ(reader.standard_output, "clean\n") << describe(reader);
    EXPECT_EQ(loop_devices_backed_by(copy), 0);
    std::remove(copy.c_str());
}

// The host's own loop device on an image (mount -o loop, losetup) takes no
// lock: a writer beside it, or a reader beside a writable one, would read
// or corrupt a file system the host has mounted.
TEST_F(ContainerReadOnlyRootTest, AnImageOnTheHostsLoopDeviceIsRefusedToAWriter)
{
    auto const copy = scratch_directory() + "/on-host-loop.ext4";
    ASSERT_EQ(std::system(("cp --sparse=always " + image() + " " + copy).c_str()), 0);
    auto attach = [&](std::string const& flags) {
        auto result = vmm::testing::run_process({ "/bin/sh", "-c", "losetup " + flags + " --find --show " + copy }, 10);
        EXPECT_EQ(result.exit_status, 0) << result.output;
        return result.output.substr(0, result.output.find('\n'));
    };
    auto device = attach("");
    for (auto const& access : { std::string(), std::string(",ro") }) {
        auto refused = run_shell(copy + access, "true");
        EXPECT_EQ(refused.exit_status, 1) << describe(refused);
        EXPECT_NE(refused.standard_error.find("is in use by " + device + ", a loop device set up outside vmm"), std::string::npos) << describe(refused);
    }
    EXPECT_EQ(std::system(("losetup -d " + device).c_str()), 0);
    device = attach("--read-only");
    EXPECT_EQ(run_shell(copy + ",ro", "echo shared").standard_output, "shared\n");
    auto writer = run_shell(copy, "true");
    EXPECT_EQ(writer.exit_status, 1) << describe(writer);
    EXPECT_NE(writer.standard_error.find("is in use by " + device), std::string::npos) << describe(writer);
    EXPECT_EQ(std::system(("losetup -d " + device).c_str()), 0);
    std::remove(copy.c_str());
}

TEST_F(ContainerReadOnlyRootTest, AnUnknownAccessIsAnError)
{
    auto result = run_shell(rootfs_directory + ",rx", "true");
    EXPECT_EQ(result.exit_status, 2) << "a usage error: " << describe(result);
    EXPECT_EQ(result.standard_error, "vmm: --container: unknown option 'rx' in '" + rootfs_directory + ",rx' (known: ro, rw)\n") << describe(result);
}
