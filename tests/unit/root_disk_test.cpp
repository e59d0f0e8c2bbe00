// vmm boot's root disk from a directory: the listing key, the cached ext4
// image (made once, never half-written), the private copy the guest writes,
// and the one-line errors for trees that cannot boot.
#include "common/Error.h"
#include "vmm/machine/RootDisk.h"
#include "tests/support/Subprocess.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace vmm;
namespace fs = std::filesystem;

namespace {

class RootDiskTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string pattern = (fs::temp_directory_path() / "vmm-root-disk-test.XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        m_scratch = pattern;
        m_cache = m_scratch / "cache";
        ::setenv("VMM_CACHE_DIR", m_cache.c_str(), 1);
        m_tree = m_scratch / "tree";
        fs::create_directories(m_tree / "etc");
        fs::create_directories(m_tree / "bin");
        write(m_tree / "etc/os-release", "PRETTY_NAME=\"Test tree\"\n");
        fs::create_symlink("../etc/os-release", m_tree / "bin/link");
    }
    void TearDown() override
    {
        ::unsetenv("VMM_CACHE_DIR");
        std::error_code ignored;
        fs::remove_all(m_scratch, ignored);
    }
    static void write(fs::path const& path, std::string const& text)
    {
        std::ofstream stream(path);
        stream << text;
    }
    static bool have_mke2fs() { return std::system("command -v mke2fs >/dev/null 2>&1 && command -v debugfs >/dev/null 2>&1") == 0; }

    fs::path m_scratch;
    fs::path m_cache;
    fs::path m_tree;
};

}

TEST_F(RootDiskTest, ListingKeyFollowsMetadataNotLocation)
{
    auto const key = tree_listing_key(m_tree);
    EXPECT_EQ(key.size(), 32u);
    EXPECT_EQ(tree_listing_key(m_tree), key);
    auto const copy = m_scratch / "copy";
    ASSERT_EQ(std::system(("cp -a " + m_tree.string() + " " + copy.string()).c_str()), 0);
    EXPECT_EQ(tree_listing_key(copy), key) << "the same tree elsewhere has the same key";
    ::chmod((copy / "etc/os-release").c_str(), 0600);
    auto const after_chmod = tree_listing_key(copy);
    EXPECT_NE(after_chmod, key);
    write(copy / "etc/os-release", "PRETTY_NAME=\"Changed\"\n");
    EXPECT_NE(tree_listing_key(copy), after_chmod) << "size and mtime are in the key";
}

TEST_F(RootDiskTest, DirectoryBecomesOneCachedImage)
{
    if (!have_mke2fs())
        GTEST_SKIP() << "mke2fs or debugfs (e2fsprogs) is not installed";
    fs::create_directories(m_cache);
    write(m_cache / "tree-0123.ext4.partial", "left by a vmm that was killed");
    auto const image = cached_tree_image(m_tree);
    EXPECT_EQ(fs::path(image).parent_path(), m_cache);
    auto const contents = vmm::testing::run_process({ "debugfs", "-R", "cat /etc/os-release", image });
    EXPECT_NE(contents.output.find("PRETTY_NAME=\"Test tree\""), std::string::npos) << contents.output;
    // The tree has no /proc, /dev, /sys or /tmp: the image gets them, the tree does not.
    auto const tmp = vmm::testing::run_process({ "debugfs", "-R", "stat /tmp", image });
    EXPECT_NE(tmp.output.find("Mode:  01777"), std::string::npos) << tmp.output;
    auto const proc = vmm::testing::run_process({ "debugfs", "-R", "ls -l /", image });
    for (auto const* name : { " proc\n", " dev\n", " sys\n" })
        EXPECT_NE(proc.output.find(name), std::string::npos) << name << proc.output;
    EXPECT_FALSE(fs::exists(m_tree / "proc"));
    // Page-sized blocks, whatever size mke2fs would pick for a small image.
    auto const superblock = vmm::testing::run_process({ "debugfs", "-R", "stats", image });
    EXPECT_NE(superblock.output.find("Block size:               4096"), std::string::npos) << superblock.output;
    auto const modified = fs::last_write_time(image);
    EXPECT_EQ(cached_tree_image(m_tree), image);
    EXPECT_EQ(fs::last_write_time(image), modified) << "the second run reuses the image";
    for (auto const& entry : fs::directory_iterator(m_cache))
        EXPECT_FALSE(entry.path().string().ends_with(".partial")) << entry.path();
}

TEST_F(RootDiskTest, GuestWritesGoToAPrivateCopy)
{
    if (!have_mke2fs())
        GTEST_SKIP() << "mke2fs or debugfs (e2fsprogs) is not installed";
    auto const image = cached_tree_image(m_tree);
    auto const before = vmm::testing::run_process({ "sha256sum", image }).output;
    // A copy left by a vmm that was killed (nobody holds its lock) is swept.
    write(m_cache / "run-abcdef.ext4", "left behind");
    std::string copy_path;
    {
        auto const root = RootDisk::prepare({ m_tree.string(), DiskAccess::ReadWrite }, CommandGiven::Yes, PrivateCopy::Named);
        copy_path = root.disk().path;
        EXPECT_EQ(fs::path(copy_path).parent_path(), m_cache);
        EXPECT_NE(copy_path, image);
        EXPECT_FALSE(fs::exists(m_cache / "run-abcdef.ext4"));
        EXPECT_EQ(fs::file_size(copy_path), fs::file_size(image));
        auto const copy = vmm::testing::run_process({ "debugfs", "-R", "cat /etc/os-release", copy_path });
        EXPECT_NE(copy.output.find("Test tree"), std::string::npos) << copy.output;
        std::ofstream(root.disk().path, std::ios::in | std::ios::out | std::ios::binary) << "scribbled over the superblock";
        auto const second = RootDisk::prepare({ m_tree.string(), DiskAccess::ReadWrite }, CommandGiven::Yes, PrivateCopy::Named);
        EXPECT_TRUE(fs::exists(copy_path)) << "a sweep removed the copy of a running vmm";
    }
    EXPECT_FALSE(fs::exists(copy_path)) << "the private copy outlived its RootDisk";
    EXPECT_EQ(vmm::testing::run_process({ "sha256sum", image }).output, before) << "the cached image changed";
    {
        auto const unnamed = RootDisk::prepare({ m_tree.string(), DiskAccess::ReadWrite }, CommandGiven::Yes, PrivateCopy::Unnamed);
        ASSERT_TRUE(unnamed.disk().path.starts_with("/proc/self/fd/")) << unnamed.disk().path;
        EXPECT_EQ(fs::file_size(unnamed.disk().path), fs::file_size(image));
        // debugfs reaches the unnamed file through this process's fd table.
        auto const path = "/proc/" + std::to_string(::getpid()) + unnamed.disk().path.substr(std::string("/proc/self").size());
        auto const copy = vmm::testing::run_process({ "debugfs", "-R", "cat /etc/os-release", path });
        EXPECT_NE(copy.output.find("Test tree"), std::string::npos) << copy.output;
    }
    auto const read_only = RootDisk::prepare({ m_tree.string(), DiskAccess::ReadOnly }, CommandGiven::Yes, PrivateCopy::Named);
    EXPECT_EQ(read_only.disk().path, image) << "read-only: the cached image itself";
    EXPECT_EQ(read_only.disk().access, DiskAccess::ReadOnly);
}

TEST_F(RootDiskTest, EveryRunSweepsWhatKilledRunsLeft)
{
    if (!have_mke2fs())
        GTEST_SKIP() << "mke2fs or debugfs (e2fsprogs) is not installed";
    auto const image = cached_tree_image(m_tree);
    // What runs killed by SIGKILL leave: a half-made image, and the private
    // copy of a --jail run that nobody holds the lock of any more.
    auto const partial = m_cache / "tree-0123.ext4.partial";
    auto const dead_copy = m_cache / "run-0123456789ab.ext4";
    // The copy of a run still going: its lock is held (here, through another open file).
    auto const live_copy = m_cache / "run-ba9876543210.ext4";
    write(live_copy, "a running vmm's copy");
    FileDescriptor live(::open(live_copy.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(live.is_valid());
    ASSERT_EQ(::flock(live.get(), LOCK_SH), 0);

    write(partial, "half made");
    write(dead_copy, "left behind");
    EXPECT_EQ(cached_tree_image(m_tree), image) << "the image is found in the cache, so none is made";
    EXPECT_FALSE(fs::exists(partial)) << "a run that found its image cached left a .partial";
    EXPECT_FALSE(fs::exists(dead_copy)) << "a run that found its image cached left a dead run's copy";
    EXPECT_TRUE(fs::exists(live_copy)) << "a running vmm's copy was removed";

    // A run without --jail (its copy unnamed) sweeps as well.
    write(partial, "half made");
    write(dead_copy, "left behind");
    {
        auto const root = RootDisk::prepare({ m_tree.string(), DiskAccess::ReadWrite }, CommandGiven::Yes, PrivateCopy::Unnamed);
        EXPECT_FALSE(fs::exists(partial));
        EXPECT_FALSE(fs::exists(dead_copy));
        EXPECT_TRUE(fs::exists(live_copy));
    }
    // A named copy is locked before it has its name: another run's sweep leaves it.
    auto const named = RootDisk::prepare({ m_tree.string(), DiskAccess::ReadWrite }, CommandGiven::Yes, PrivateCopy::Named);
    EXPECT_TRUE(fs::path(named.disk().path).filename().string().starts_with("run-")) << named.disk().path;
    auto const other = RootDisk::prepare({ m_tree.string(), DiskAccess::ReadOnly }, CommandGiven::Yes, PrivateCopy::Unnamed);
    EXPECT_TRUE(fs::exists(named.disk().path));
    EXPECT_EQ(fs::file_size(named.disk().path), fs::file_size(image));
}

TEST_F(RootDiskTest, BadTreesGetOneLine)
{
    auto const empty = m_scratch / "empty";
    fs::create_directory(empty);
    try {
        RootDisk::prepare({ empty.string(), DiskAccess::ReadWrite }, CommandGiven::Yes, PrivateCopy::Named);
        FAIL() << "an empty directory was accepted";
    } catch (Error const& error) {
        EXPECT_NE(std::string(error.what()).find("is an empty directory"), std::string::npos) << error.what();
    }
    try {
        RootDisk::prepare({ m_tree.string(), DiskAccess::ReadWrite }, CommandGiven::No, PrivateCopy::Named);
        FAIL() << "a tree without a shell was accepted without a command";
    } catch (Error const& error) {
        EXPECT_NE(std::string(error.what()).find("has no shell to start (/bin/sh or /bin/bash)"), std::string::npos) << error.what();
    }
    EXPECT_FALSE(fs::exists(m_cache) && !fs::is_empty(m_cache)) << "nothing made for a refused tree";
}

TEST_F(RootDiskTest, Ext4ImagesPassThroughOtherFilesAreRefused)
{
    if (!have_mke2fs())
        GTEST_SKIP() << "mke2fs or debugfs (e2fsprogs) is not installed";
    auto const image = m_scratch / "disk.ext4";
    ASSERT_EQ(std::system(("mke2fs -q -t ext4 -F " + image.string() + " 8M").c_str()), 0);
    auto const root = RootDisk::prepare({ image.string(), DiskAccess::ReadOnly }, CommandGiven::No, PrivateCopy::Named);
    EXPECT_EQ(root.disk().path, image.string());
    auto const text = m_scratch / "notes.txt";
    write(text, std::string(4096, 'x'));
    try {
        RootDisk::prepare({ text.string(), DiskAccess::ReadWrite }, CommandGiven::Yes, PrivateCopy::Named);
        FAIL() << "a text file was accepted as a root filesystem";
    } catch (Error const& error) {
        // The message a container gives for the same file.
        EXPECT_EQ(std::string(error.what()), text.string() + ": neither an ext4 image nor a tar archive");
    }
    EXPECT_EQ(RootDisk::prepare({ "/dev/null", DiskAccess::ReadOnly }, CommandGiven::No, PrivateCopy::Named).disk().path, "/dev/null");
}

TEST_F(RootDiskTest, TarArchiveBootsAsTheTreeItHolds)
{
    // Through the vmm binary: archives are unpacked by vmm-unpack, found next
    // to it. --mem 1M stops vmm once the image is made, before any KVM work.
    if (!have_mke2fs())
        GTEST_SKIP() << "mke2fs or debugfs (e2fsprogs) is not installed";
    if (!fs::exists(VMM_BUILD_DIR "/vmm") || !fs::exists(VMM_BUILD_DIR "/vmm-unpack"))
        GTEST_SKIP() << "build vmm and vmm-unpack first";
    auto const archive = m_scratch / "tree.tar";
    ASSERT_EQ(std::system(("tar -C " + m_tree.string() + " -cf " + archive.string() + " .").c_str()), 0);
    auto const booted = vmm::testing::run_process({ VMM_BUILD_DIR "/vmm", "boot", "/dev/null", archive.string(), "--mem", "1M", "--", "true" });
    EXPECT_EQ(booted.exit_status, 1);
    EXPECT_NE(booted.output.find("--mem: 1 MiB is too small"), std::string::npos) << booted.output;
    std::string image;
    for (auto const& entry : fs::directory_iterator(m_cache))
        if (entry.path().extension() == ".ext4")
            image = entry.path();
    ASSERT_FALSE(image.empty()) << "no image made from " << archive;
    auto const contents = vmm::testing::run_process({ "debugfs", "-R", "cat /etc/os-release", image });
    EXPECT_NE(contents.output.find("PRETTY_NAME=\"Test tree\""), std::string::npos) << contents.output;
    auto const no_shell = vmm::testing::run_process({ VMM_BUILD_DIR "/vmm", "boot", "/dev/null", archive.string() });
    EXPECT_EQ(no_shell.exit_status, 1);
    EXPECT_EQ(no_shell.output, "vmm: rootfs " + archive.string() + " has no shell to start (/bin/sh or /bin/bash): give a command after --\n");
}
