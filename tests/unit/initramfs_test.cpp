// The newc cpio writer behind vmm's own initramfs: the exact header bytes,
// and an archive that cpio(1) extracts to the same names, modes and contents.
#include "guest/EmbeddedInit.h"
#include "common/Error.h"
#include "vmm/machine/Initramfs.h"
#include "tests/support/Subprocess.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace vmm;

namespace {

std::span<uint8_t const> as_bytes(std::string_view text)
{
    return { reinterpret_cast<uint8_t const*>(text.data()), text.size() };
}

std::string read_text(std::filesystem::path const& path)
{
    std::ifstream stream(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>());
}

class ScratchDirectory {
public:
    ScratchDirectory()
    {
        std::string pattern = (std::filesystem::temp_directory_path() / "vmm-initramfs-test.XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr)
            throw std::runtime_error("mkdtemp " + pattern + " failed");
        m_path = pattern;
    }
    ~ScratchDirectory()
    {
        std::error_code ignored;
        std::filesystem::remove_all(m_path, ignored);
    }
    std::filesystem::path const& path() const { return m_path; }

private:
    std::filesystem::path m_path;
};

// Writes `archive` to a file and extracts it with `cpio -idv` in `directory`.
vmm::testing::ProcessResult extract(std::vector<uint8_t> const& archive, std::filesystem::path const& directory)
{
    auto const file = directory / "archive.cpio";
    {
        std::ofstream stream(file, std::ios::binary);
        stream.write(reinterpret_cast<char const*>(archive.data()), static_cast<std::streamsize>(archive.size()));
    }
    std::filesystem::create_directory(directory / "out");
    return vmm::testing::run_process({ "sh", "-c", "cd '" + (directory / "out").string() + "' && cpio -idv --quiet < '" + file.string() + "'" });
}

bool have_cpio()
{
    return std::system("command -v cpio >/dev/null 2>&1") == 0;
}

}

TEST(CpioWriter, HeaderBytesFollowTheNewcFormat)
{
    CpioWriter writer;
    writer.add_file("hello", 0644, as_bytes("hi\n"));
    auto const archive = writer.finish();
    std::string const text(archive.begin(), archive.end());
    // magic, ino 1, mode 0100644, uid 0, gid 0, nlink 1, mtime 0, size 3,
    // devmajor/minor and rdevmajor/minor 0, namesize 6 ("hello\0"), check 0.
    std::string const expected_header = "070701"
                                        "00000001" "000081A4" "00000000" "00000000" "00000001" "00000000" "00000003"
                                        "00000000" "00000000" "00000000" "00000000" "00000006" "00000000";
    ASSERT_GE(text.size(), 110u);
    EXPECT_EQ(text.substr(0, 110), expected_header);
    // 110 + 6 = 116 is already a multiple of four; the data pads 3 to 4 bytes.
    EXPECT_EQ(text.substr(110, 6), std::string("hello\0", 6));
    EXPECT_EQ(text.substr(116, 4), std::string("hi\n\0", 4));
    EXPECT_EQ(text.substr(120, 6), "070701");
    EXPECT_NE(text.find("TRAILER!!!", 120), std::string::npos);
    EXPECT_EQ(archive.size() % 4, 0u);
}

TEST(CpioWriter, CpioExtractsNamesModesAndContents)
{
    if (!have_cpio())
        GTEST_SKIP() << "cpio is not installed (scripts/install-deps)";
    ScratchDirectory scratch;
    CpioWriter writer;
    writer.add_directory("etc", 0750);
    writer.add_file("etc/odd-length-name", 0600, as_bytes("12345"));
    writer.add_file("empty", 0644, {});
    writer.add_file("run-me", 0755, as_bytes("#!/bin/sh\necho ok\n"));
    auto const result = extract(writer.finish(), scratch.path());
    ASSERT_EQ(result.exit_status, 0) << result.output;
    auto const out = scratch.path() / "out";
    EXPECT_EQ(read_text(out / "etc/odd-length-name"), "12345");
    EXPECT_EQ(read_text(out / "run-me"), "#!/bin/sh\necho ok\n");
    EXPECT_TRUE(std::filesystem::is_regular_file(out / "empty"));
    EXPECT_EQ(std::filesystem::file_size(out / "empty"), 0u);
    struct stat status {};
    ASSERT_EQ(::stat((out / "etc").c_str(), &status), 0);
    EXPECT_TRUE(S_ISDIR(status.st_mode));
    EXPECT_EQ(status.st_mode & 07777, 0750u);
    ASSERT_EQ(::stat((out / "run-me").c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 07777, 0755u);
    ASSERT_EQ(::stat((out / "etc/odd-length-name").c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 07777, 0600u);
}

TEST(CpioWriter, RefusesAnEmptyName)
{
    CpioWriter writer;
    EXPECT_THROW(writer.add_file("", 0644, {}), Error);
}

TEST(Initramfs, HoldsTheEmbeddedInitAndItsMountPoints)
{
    if (!have_cpio())
        GTEST_SKIP() << "cpio is not installed (scripts/install-deps)";
    ScratchDirectory scratch;
    auto const result = extract(build_vmm_initramfs(), scratch.path());
    ASSERT_EQ(result.exit_status, 0) << result.output;
    auto const out = scratch.path() / "out";
    auto const init = embedded_init();
    EXPECT_GT(init.size(), 0u);
    EXPECT_EQ(read_text(out / "init"), std::string(init.begin(), init.end()));
    EXPECT_EQ(::access((out / "init").c_str(), X_OK), 0);
    for (auto const* directory : { "dev", "proc", "sys", "newroot" })
        EXPECT_TRUE(std::filesystem::is_directory(out / directory)) << directory;
}
