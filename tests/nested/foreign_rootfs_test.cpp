// vmm boot of a root filesystem made by another tool (issue 11), on the
// nested SVM KVM host: a tree of the host's own bash and cat with their
// libraries and an /etc/os-release, no /sbin/init and no busybox, booted as
// a directory, as an ext4 image (1 GiB, so scripts/nested-kvm carries it on
// a virtio disk) and read-only, with vmm's own initramfs and init. Skips
// where nested KVM is unavailable (the script exits 77).
#include "tests/support/NestedHost.h"

#include <filesystem>
#include <gtest/gtest.h>
#include <string>
#include <unistd.h>

using vmm::testing::nested_unavailable_status;
using vmm::testing::run_nested;
using vmm::testing::run_process;

namespace {
namespace fs = std::filesystem;

// The tree tests/container/container_run_test.cpp runs as a container.
bool make_foreign_tree(fs::path const& tree)
{
    std::string const script = "set -e; rm -rf " + tree.string() + "; mkdir -p " + tree.string() + "/bin " + tree.string() + "/etc; cp /bin/bash /bin/cat "
        + tree.string() + "/bin/; for library in $(ldd /bin/bash /bin/cat | grep -o '/[^ ]*lib[^ ]*'); do mkdir -p " + tree.string()
        + "$(dirname $library); cp -L $library " + tree.string() + "$library; done; echo 'PRETTY_NAME=\"Foreign Linux 1.0\"' > "
        + tree.string() + "/etc/os-release";
    return std::system(script.c_str()) == 0;
}

class ForeignRootfs : public ::testing::Test {
protected:
    void SetUp() override
    {
        for (auto const* path : { VMM_BUILD_DIR "/vmm", VMM_BUILD_DIR "/guest/bzImage" })
            ASSERT_TRUE(fs::exists(path)) << path << " is missing: build vmm and run guest/build-kernel";
        if (std::system("command -v mke2fs >/dev/null 2>&1 && command -v debugfs >/dev/null 2>&1") != 0)
            GTEST_SKIP() << "mke2fs or debugfs (e2fsprogs) is not installed";
        m_directory = fs::temp_directory_path() / ("vmm-nested-foreign-" + std::to_string(::getpid()));
        fs::create_directories(m_directory);
    }
    void TearDown() override
    {
        std::error_code ignored;
        fs::remove_all(m_directory, ignored);
    }

    // `--file` options that carry mke2fs, debugfs and their libraries into
    // L1, where vmm makes the image of a directory.
    std::vector<std::string> e2fsprogs_files()
    {
        std::vector<std::string> options { "--file", "/etc/mke2fs.conf:/etc/mke2fs.conf" };
        std::string paths;
        for (auto const* tool : { "mke2fs", "debugfs" }) {
            auto const found = run_process({ "sh", "-c", std::string("command -v ") + tool }).output;
            auto const path = found.substr(0, found.find('\n'));
            options.insert(options.end(), { "--file", path + ":/usr/sbin/" + tool });
            paths += " " + path;
        }
        auto const libraries = run_process({ "sh", "-c", "ldd" + paths + " | grep -o '/[^ ]*lib[^ ]*' | sort -u" }).output;
        size_t start = 0;
        for (size_t end; (end = libraries.find('\n', start)) != std::string::npos; start = end + 1) {
            auto const library = libraries.substr(start, end - start);
            options.insert(options.end(), { "--file", library + ":" + library });
        }
        return options;
    }

    fs::path m_directory;
};

// The text between "== NAME" and the next "== " line.
std::string section(std::string const& output, std::string const& name)
{
    auto const begin = output.find("== " + name + "\n");
    if (begin == std::string::npos)
        return {};
    auto const start = begin + name.size() + 4;
    auto const end = output.find("== ", start);
    return output.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

}

TEST_F(ForeignRootfs, BootsAsDirectoryAndImageWithVmmsOwnInit)
{
    auto const tree = m_directory / "foreign";
    ASSERT_TRUE(make_foreign_tree(tree));
    auto const image = m_directory / "foreign.ext4";
    ASSERT_EQ(std::system(("mke2fs -q -t ext4 -d " + tree.string() + " -F " + image.string() + " 1G").c_str()), 0);
    auto const archive = m_directory / "foreign.tar";
    ASSERT_EQ(std::system(("tar -C " + tree.string() + " -cf " + archive.string() + " .").c_str()), 0);
    auto const not_linux = m_directory / "not-linux.ext4";
    ASSERT_EQ(std::system(("mkdir -p " + (m_directory / "not-linux/etc").string() + " && echo x >" + (m_directory / "not-linux/etc/x").string()
                              + " && mke2fs -q -t ext4 -d " + (m_directory / "not-linux").string() + " -F " + not_linux.string() + " 8M").c_str()),
        0);
    auto const fetched = m_directory / "after.ext4";

    std::string const print = " -- /bin/bash -c 'cat /etc/os-release; exit 4'; echo status=$?; ";
    // e2fsprogs' mke2fs before busybox's, which has no -d.
    std::string const script = "export PATH=/usr/sbin:$PATH; mkdir /foreign /not-linux && tar -x -f /foreign.tar -C /foreign && mkdir /not-linux/etc && echo x >/not-linux/etc/x; "
                               "listing() { find /foreign -exec stat -c '%n %f %Y %s' {} + | md5sum; }; echo '== tree before'; listing; "
                               "echo '== directory'; /vmm boot /bzImage /foreign" + print
        + "echo '== directory again'; /vmm boot /bzImage /foreign" + print
        + "echo '== tree after'; listing; "
          "echo '== cache'; ls /var/cache/vmm/images | grep -c 'ext4$'; "
          "echo '== tar'; /vmm boot /bzImage /foreign.tar" + print
        + "echo '== read-only directory'; /vmm boot /bzImage /foreign,ro -- /bin/bash -c '[ -e /proc/self/status ] && echo proc-ok; exit 4'; echo status=$?; "
          "echo '== jailed'; mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && /vmm boot --jail /bzImage /foreign" + print
        + "echo '== copies left'; ls /var/cache/vmm/images | grep -c '^run-'; "
        + "echo '== image'; /vmm boot /bzImage /foreign.ext4" + print
        + "echo '== read-only'; /vmm boot /bzImage /foreign.ext4,ro" + print
        + "echo '== shell'; echo 'echo bash-${BASH_VERSION:0:1}; exit 5' | /vmm boot /bzImage /foreign.ext4; echo status=$?; "
          "echo '== no shell in image'; /vmm boot /bzImage /not-linux.ext4; echo status=$?; "
          "echo '== no shell in directory'; /vmm boot /bzImage /not-linux; echo status=$?; "
          "echo '== write'; /vmm boot /bzImage /foreign.ext4 -- /bin/bash -c 'echo written >/etc/written'; echo status=$?; echo '== end'";
    std::vector<std::string> options { "--file", archive.string() + ":/foreign.tar", "--file", image.string() + ":/foreign.ext4", "--file",
        not_linux.string() + ":/not-linux.ext4", "--fetch", "/foreign.ext4:" + fetched.string() };
    auto const files = e2fsprogs_files();
    options.insert(options.end(), files.begin(), files.end());
    auto const result = run_nested({ .options = options, .command = { "sh", "-c", script }, .timeout_seconds = 400 });
    if (result.exit_status == nested_unavailable_status)
        GTEST_SKIP() << "nested SVM KVM host unavailable: " << result.output;
    ASSERT_EQ(result.exit_status, 0) << result.output;

    std::string const expected = "PRETTY_NAME=\"Foreign Linux 1.0\"\nstatus=4\n";
    EXPECT_EQ(section(result.output, "directory"), expected) << result.output;
    EXPECT_EQ(section(result.output, "directory again"), expected) << result.output;
    EXPECT_EQ(section(result.output, "tar"), expected) << result.output;
    EXPECT_EQ(section(result.output, "jailed"), expected) << result.output;
    // Its image has the mount points the tree lacks, so /proc is there read-only too.
    EXPECT_EQ(section(result.output, "read-only directory"), "proc-ok\nstatus=4\n") << result.output;
    EXPECT_EQ(section(result.output, "copies left"), "0\n") << "the guests' private copies outlived vmm:\n" << result.output;
    EXPECT_EQ(section(result.output, "tree after"), section(result.output, "tree before")) << "a run changed the user's tree";
    EXPECT_EQ(section(result.output, "cache"), "1\n") << "the second run reuses the cached image:\n" << result.output;
    EXPECT_EQ(section(result.output, "image"), expected) << result.output;
    EXPECT_EQ(section(result.output, "read-only"), expected) << result.output;
    EXPECT_NE(section(result.output, "shell").find("bash-5\n"), std::string::npos) << "no command: the tree's /bin/bash:\n" << result.output;
    EXPECT_NE(section(result.output, "shell").find("status=5\n"), std::string::npos) << result.output;
    EXPECT_EQ(section(result.output, "no shell in image"),
        "vmm-init: the root filesystem has no shell to start (/bin/sh or /bin/bash): give a command after --\nstatus=127\n")
        << result.output;
    // vmm's own errors are on stderr, which scripts/nested-kvm prints after stdout.
    EXPECT_EQ(section(result.output, "no shell in directory"), "status=1\n") << result.output;
    EXPECT_EQ(vmm::testing::count_lines_containing(result.output, "vmm: rootfs /not-linux has no shell to start (/bin/sh or /bin/bash): give a command after --"), 1)
        << result.output;
    EXPECT_EQ(section(result.output, "write"), "status=0\n") << result.output;
    // The 1 GiB image travelled on a virtio disk and came back from it.
    ASSERT_TRUE(fs::exists(fetched)) << result.output;
    EXPECT_EQ(fs::file_size(fetched), fs::file_size(image));
    auto const written = run_process({ "debugfs", "-R", "cat /etc/written", fetched.string() });
    EXPECT_NE(written.output.find("written\n"), std::string::npos) << written.output;
}
