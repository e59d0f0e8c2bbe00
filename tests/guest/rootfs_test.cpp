// The rootfs directory (for the container) and the ext4 image (for the VM)
// hold the same files: debugfs extracts the image and the two trees are
// compared entry by entry (type, permissions, symlink target, contents).
#include "tests/support/Subprocess.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <map>
#include <sys/stat.h>

namespace fs = std::filesystem;
using vmm::testing::run_process;

namespace {

struct Entry {
    fs::file_type type;
    fs::perms permissions;
    std::string content; // File bytes, or the symlink's target.
    bool operator==(Entry const&) const = default;
};

std::map<std::string, Entry> list_tree(fs::path const& root)
{
    std::map<std::string, Entry> entries;
    for (auto const& item : fs::recursive_directory_iterator(root)) {
        auto const status = item.symlink_status();
        Entry entry { status.type(), status.permissions(), {} };
        if (status.type() == fs::file_type::symlink) {
            entry.content = fs::read_symlink(item.path()).string();
        } else if (status.type() == fs::file_type::regular) {
            std::ifstream file(item.path(), std::ios::binary);
            entry.content.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
        }
        entries.emplace(item.path().lexically_relative(root).string(), std::move(entry));
    }
    return entries;
}

}

TEST(Rootfs, ImageAndDirectoryHoldTheSameFiles)
{
    fs::path const directory = VMM_BUILD_DIR "/guest/rootfs";
    fs::path const image = VMM_BUILD_DIR "/guest/rootfs.ext4";
    ASSERT_TRUE(fs::exists(directory / "sbin/init") && fs::exists(image)) << "run guest/build-rootfs first (scripts/test does)";

    auto const extracted = fs::temp_directory_path() / ("vmm-rootfs-test-" + std::to_string(getpid()));
    fs::remove_all(extracted);
    fs::create_directories(extracted);
    auto const dump = run_process({ "debugfs", "-R", "rdump / " + extracted.string(), image.string() });
    ASSERT_EQ(dump.exit_status, 0) << dump.output;
    fs::remove_all(extracted / "lost+found"); // mke2fs's own directory.

    auto const expected = list_tree(directory);
    auto const actual = list_tree(extracted);
    fs::remove_all(extracted);
    EXPECT_GT(expected.size(), 250u) << "busybox applets, init, /etc";
    EXPECT_EQ(actual.size(), expected.size());
    for (auto const& [path, entry] : expected) {
        auto const found = actual.find(path);
        ASSERT_NE(found, actual.end()) << path << " is missing from the image";
        EXPECT_EQ(found->second.type, entry.type) << path;
        // debugfs's rdump drops the sticky bit; /tmp's is checked in the image below.
        if (entry.type != fs::file_type::symlink) {
            EXPECT_EQ(found->second.permissions & fs::perms::all, entry.permissions & fs::perms::all) << path;
        }
        EXPECT_TRUE(found->second.content == entry.content) << path << " differs";
    }
    EXPECT_TRUE(expected.contains("sbin/init"));
    EXPECT_TRUE(expected.contains("bin/sh"));
    auto const tmp = run_process({ "debugfs", "-R", "stat /tmp", image.string() });
    EXPECT_NE(tmp.output.find("Mode:  01777"), std::string::npos) << tmp.output;
}
