// Root filesystems as tar archives (the `docker export` format): unpacked
// once into vmm's cache, run like a directory, and refused with one line
// when an entry would land outside the tree or the archive is damaged.

#include "tests/container/ContainerTestSupport.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

using namespace container_test;

namespace {

std::string const trees = "/var/cache/vmm/trees";

std::string sha256_of(std::string const& path)
{
    auto result = vmm::testing::run_process({ "sha256sum", path });
    return result.output.substr(0, 64);
}

// What the cache holds of the archive with `digest` other than its tree: a
// lock file or a partial tree left behind. (Tests running at the same time
// unpack other archives.)
std::vector<std::string> leftovers_of(std::string const& digest)
{
    std::vector<std::string> names;
    std::error_code error;
    for (auto const& entry : std::filesystem::directory_iterator(trees, error)) {
        auto name = entry.path().filename().string();
        if (name.starts_with(digest) && name != digest)
            names.push_back(name);
    }
    return names;
}

std::string read_text(std::filesystem::path const& path)
{
    std::ifstream file(path);
    return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

class ContainerArchiveTest : public ContainerTest {
protected:
    // Writes a tar of `entries` made by Python's tarfile: (name, kind,
    // target) with kind "file" or "symlink".
    std::string make_tar(std::string const& name, std::string const& entries_python)
    {
        auto path = scratch_directory() + "/" + name;
        std::string const script = "import io, tarfile\n"
                                   "with tarfile.open('" + path + "', 'w') as archive:\n"
                                   "    for name, kind, target in " + entries_python + ":\n"
                                   "        info = tarfile.TarInfo(name)\n"
                                   "        if kind == 'symlink':\n"
                                   "            info.type, info.linkname = tarfile.SYMTYPE, target\n"
                                   "            archive.addfile(info)\n"
                                   "        else:\n"
                                   "            info.size = 1\n"
                                   "            archive.addfile(info, io.BytesIO(b'x'))\n";
        auto result = vmm::testing::run_process({ "python3", "-c", script });
        EXPECT_EQ(result.exit_status, 0) << result.output;
        return path;
    }

    // Everything an archive leaves in the cache is named by its digest (the
    // tree, its partial copy, its lock), so that is what is checked: not a
    // count of the cache's trees, which tests running at the same time
    // change, and which a start sweeping a killed run's partial tree lowers.
    void expect_refused(std::string const& archive, std::string const& message)
    {
        auto result = run_vmm({ "--container", archive, "--", "/bin/true" });
        EXPECT_EQ(result.exit_status, 1) << describe(result);
        EXPECT_EQ(std::count(result.standard_error.begin(), result.standard_error.end(), '\n'), 1) << describe(result);
        EXPECT_NE(result.standard_error.find(message), std::string::npos) << "expected '" << message << "' in " << describe(result);
        auto const digest = sha256_of(archive);
        EXPECT_FALSE(std::filesystem::exists(trees + "/" + digest));
        EXPECT_EQ(leftovers_of(digest), std::vector<std::string> {}) << "a refused archive left files in the cache";
    }
};

// The same foreign tree as a directory, an ext4 image and a tar archive:
// the same output and status all three ways; the tar is unpacked once.
TEST_F(ContainerArchiveTest, DirectoryImageAndTarRunTheSame)
{
    auto tree = make_foreign_tree(scratch_directory() + "/archived");
    ASSERT_FALSE(tree.empty());
    auto const image_path = scratch_directory() + "/archived.ext4";
    auto const tar_path = scratch_directory() + "/archived.tar";
    ASSERT_EQ(std::system(("mke2fs -q -t ext4 -d " + tree + " -F " + image_path + " 64M && tar -C " + tree + " -cf " + tar_path + " .").c_str()), 0);
    auto const cached = trees + "/" + sha256_of(tar_path);
    std::filesystem::remove_all(cached);

    std::string const script = "cat /etc/os-release; echo /*; exit 6";
    std::vector<std::string> outputs;
    for (auto const& rootfs : { tree, image_path, tar_path, tar_path }) {
        auto result = run_vmm({ "--container", rootfs, "--", "/bin/bash", "-c", script });
        EXPECT_EQ(result.exit_status, 6) << rootfs << "\n" << describe(result);
        EXPECT_EQ(result.standard_error, "") << describe(result);
        auto output = result.standard_output;
        // mke2fs's own directory is the image's only difference.
        if (auto found = output.find(" /lost+found"); found != std::string::npos)
            output.erase(found, std::string(" /lost+found").size());
        outputs.push_back(output);
    }
    EXPECT_NE(outputs[0].find("Foreign Linux 1.0"), std::string::npos) << outputs[0];
    EXPECT_EQ(outputs[1], outputs[0]);
    EXPECT_EQ(outputs[2], outputs[0]);
    EXPECT_EQ(outputs[3], outputs[0]);

    // Unpacked once: the second run found the tree the first one made.
    ASSERT_TRUE(std::filesystem::is_directory(cached));
    struct stat first {};
    ASSERT_EQ(::stat(cached.c_str(), &first), 0);
    auto again = run_vmm({ "--container", tar_path, "--", "/bin/bash", "-c", "echo x > /written" });
    EXPECT_EQ(again.exit_status, 0) << describe(again);
    struct stat second {};
    ASSERT_EQ(::stat(cached.c_str(), &second), 0);
    EXPECT_EQ(second.st_ino, first.st_ino);
    EXPECT_FALSE(std::filesystem::exists(cached + "/written")) << "the cached tree was written";
    EXPECT_EQ(leftovers_of(sha256_of(tar_path)), std::vector<std::string> {});
    std::filesystem::remove_all(cached);
}

// The digest that names an archive's tree is remembered for the file as it
// is, so a later start does not hash it again; the same file rewritten in
// place, at the same size, is hashed again and runs its new content.
TEST_F(ContainerArchiveTest, TheDigestIsRememberedUntilTheArchiveChanges)
{
    auto tree = make_foreign_tree(scratch_directory() + "/remembered");
    ASSERT_FALSE(tree.empty());
    auto const tar_path = scratch_directory() + "/remembered.tar";
    ASSERT_EQ(std::system(("printf aaaa-" + std::to_string(::getpid()) + " > " + tree + "/marker && tar -C " + tree + " -cf " + tar_path + " .").c_str()), 0);
    // A memo is made only for a file that has not changed for a second.
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    auto first = run_vmm({ "--container", tar_path, "--", "/bin/bash", "-c", "cat /marker" });
    EXPECT_EQ(first.standard_output, "aaaa-" + std::to_string(::getpid())) << describe(first);
    auto const digest = sha256_of(tar_path);
    bool remembered = false;
    std::error_code error;
    for (auto const& memo : std::filesystem::directory_iterator(trees + "/.digests", error))
        remembered |= read_text(memo.path()) == digest;
    EXPECT_TRUE(remembered) << "no memo holds " << digest;

    // Same size, same inode: only its content and change time differ.
    std::string const rewrite = "import sys\npath = sys.argv[1]\ndata = open(path, 'rb').read().replace(b'aaaa-', b'bbbb-')\n"
                                "open(path, 'r+b').write(data)\n";
    ASSERT_EQ(vmm::testing::run_process({ "python3", "-c", rewrite, tar_path }).exit_status, 0);
    auto second = run_vmm({ "--container", tar_path, "--", "/bin/bash", "-c", "cat /marker" });
    EXPECT_EQ(second.standard_output, "bbbb-" + std::to_string(::getpid())) << "the memo of the old content was used: " << describe(second);
    std::filesystem::remove_all(trees + "/" + digest);
    std::filesystem::remove_all(trees + "/" + sha256_of(tar_path));
}

// `docker export` archives have no entry for the root ("./"): the tree's
// root gets docker's 0755 (the cache's trees/ stays private), so that any
// user can run there; a tree an older vmm left at 0700 is given it too.
TEST_F(ContainerArchiveTest, AnArchiveWithoutARootEntryGetsARootOfMode0755)
{
    auto const tar_path = scratch_directory() + "/no-root-entry.tar";
    ASSERT_EQ(std::system(("tar -C " + rootfs_directory + " -cf " + tar_path + " bin etc sbin usr").c_str()), 0);
    auto const cached = trees + "/" + sha256_of(tar_path);
    std::filesystem::remove_all(cached);

    for (int run = 0; run < 2; ++run) {
        auto root = run_vmm({ "--container", tar_path, "--", "/bin/sh", "-c", "stat -c %a /" });
        EXPECT_EQ(root.exit_status, 0) << describe(root);
        EXPECT_EQ(root.standard_output, "755\n") << describe(root);
        auto nobody = run_vmm({ "--container", tar_path, "-u", "nobody", "--", "/bin/ls", "/" });
        EXPECT_EQ(nobody.exit_status, 0) << describe(nobody);
        struct stat status {};
        ASSERT_EQ(::stat(cached.c_str(), &status), 0);
        EXPECT_EQ(status.st_mode & 07777, 0755u);
        ASSERT_EQ(::stat(trees.c_str(), &status), 0);
        EXPECT_EQ(status.st_mode & 07777, 0700u) << "the cache is not private";
        // As an older vmm left it: mended at the next use.
        ASSERT_EQ(::chmod(cached.c_str(), 0700), 0);
    }
    struct stat status {};
    ASSERT_EQ(::stat(cached.c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 07777, 0700u);
    auto mended = run_vmm({ "--container", tar_path, "-u", "nobody", "--", "/bin/ls", "/" });
    EXPECT_EQ(mended.exit_status, 0) << describe(mended);
    ASSERT_EQ(::stat(cached.c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 07777, 0755u);

    // A root entry's own mode is kept, 0700 too.
    auto const private_root = scratch_directory() + "/private-root";
    auto const private_tar = scratch_directory() + "/private-root.tar";
    ASSERT_EQ(std::system(("rm -rf " + private_root + " && cp -aH " + rootfs_directory + " " + private_root + " && chmod 700 " + private_root
                              + " && tar -C " + private_root + " -cf " + private_tar + " .")
                              .c_str()),
        0);
    auto kept = run_vmm({ "--container", private_tar, "--", "/bin/sh", "-c", "stat -c %a /" });
    EXPECT_EQ(kept.standard_output, "700\n") << describe(kept);
    std::filesystem::remove_all(cached);
    std::filesystem::remove_all(trees + "/" + sha256_of(private_tar));
    std::filesystem::remove_all(private_root);
}

// As root, --rootless runs an archive's tree although the mapped root may
// not look up a path in the cache (trees/ is 0700): it is reached by fd.
TEST_F(ContainerArchiveTest, RootlessAsRootRunsAnArchive)
{
    auto const tar_path = scratch_directory() + "/rootless.tar";
    ASSERT_EQ(std::system(("tar -C " + rootfs_directory + " -cf " + tar_path + " .").c_str()), 0);
    auto result = run_vmm({ "--container", tar_path, "--rootless", "--", "/bin/sh", "-c", "touch /written && stat -c %U /etc" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "root\n") << describe(result);
    std::filesystem::remove_all(trees + "/" + sha256_of(tar_path));
}

TEST_F(ContainerArchiveTest, EntriesLeavingTheTreeRefuseTheArchive)
{
    auto const outside = scratch_directory() + "/outside";
    std::filesystem::create_directories(outside);
    expect_refused(make_tar("absolute.tar", "[('/etc/evil', 'file', '')]"), "entry '/etc/evil' is an absolute path");
    expect_refused(make_tar("dotdot.tar", "[('bin/../../evil', 'file', '')]"), "entry 'bin/../../evil' leads out of the tree");
    expect_refused(make_tar("through-symlink.tar", "[('escape', 'symlink', '" + outside + "'), ('escape/evil', 'file', '')]"),
        "Cannot extract through symlink");
    EXPECT_TRUE(std::filesystem::is_empty(outside)) << "an archive wrote outside its tree";
}

TEST_F(ContainerArchiveTest, DamagedOrForeignFilesAreRefused)
{
    auto tree = make_foreign_tree(scratch_directory() + "/truncated-tree");
    ASSERT_FALSE(tree.empty());
    auto const truncated = scratch_directory() + "/truncated.tar";
    ASSERT_EQ(std::system(("tar -C " + tree + " -cf - . | head -c 40000 > " + truncated).c_str()), 0);
    expect_refused(truncated, "Truncated tar archive");
    // A compressed image is not an archive with nothing in it.
    auto const compressed_image = scratch_directory() + "/image.ext4.gz";
    ASSERT_EQ(std::system(("head -c 300000 " + image() + " | gzip > " + compressed_image).c_str()), 0);
    expect_refused(compressed_image, compressed_image + ": gzip data without a tar archive in it (uncompress an image first)");

    // Unpacked by a user other than root, a failed archive's directories
    // without write permission (0555) do not keep its partial tree behind.
    auto const home = "/tmp/vmm-unpack-test-home-" + std::to_string(::getpid());
    std::string const make = "rm -rf " + home + " && mkdir -p " + home + "/t/ro && echo a >" + home + "/t/ro/a && chmod 555 " + home
        + "/t/ro && head -c 3000000 /dev/urandom >" + home + "/t/big && tar -C " + home + "/t -cf - ro big | head -c 1000000 >" + home
        + "/cut.tar && chown -R 65534:65534 " + home;
    ASSERT_EQ(std::system(make.c_str()), 0);
    auto const as_nobody = vmm::testing::run_process({ "setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "env", "HOME=" + home,
                                                          "XDG_CACHE_HOME=", vmm_binary, "--container", home + "/cut.tar", "--", "/bin/true" },
        60);
    EXPECT_EQ(as_nobody.exit_status, 1) << as_nobody.output;
    EXPECT_EQ(std::count(as_nobody.output.begin(), as_nobody.output.end(), '\n'), 1) << as_nobody.output;
    std::error_code error;
    std::vector<std::string> left;
    for (auto const& entry : std::filesystem::directory_iterator(home + "/.cache/vmm/trees", error))
        left.push_back(entry.path().filename().string());
    EXPECT_TRUE(std::none_of(left.begin(), left.end(), [](auto const& name) { return name.find(".partial-") != std::string::npos; }))
        << "left: " << ::testing::PrintToString(left);
    std::system(("chmod -R u+w " + home + " 2>/dev/null; rm -rf " + home).c_str());

    auto const random = scratch_directory() + "/random.bin";
    ASSERT_EQ(std::system(("head -c 8192 /dev/urandom > " + random).c_str()), 0);
    auto result = run_vmm({ "--container", random, "--", "/bin/true" });
    EXPECT_EQ(result.exit_status, 1) << describe(result);
    EXPECT_EQ(result.standard_error, "vmm: --container: " + random + ": neither an ext4 image nor a tar archive\n") << describe(result);
}

}
