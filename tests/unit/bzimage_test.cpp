// The bzImage checks, on the project's real kernel and on damaged copies of it.
#include "vmm/arch/Architecture.h"
#include "vmm/arch/x86_64/BootParams.h"
#include "vmm/arch/x86_64/BzImage.h"
#include "vmm/arch/x86_64/Layout.h"
#include "common/Error.h"

#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <unistd.h>

using namespace vmm;
using namespace vmm::x86_64;

namespace {

std::string const kernel_path = VMM_BUILD_DIR "/guest/bzImage";

std::vector<uint8_t> read_kernel()
{
    std::ifstream file(kernel_path, std::ios::binary);
    return { std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>() };
}

std::string parse_error(std::vector<uint8_t> bytes)
{
    try {
        BzImage::parse(std::move(bytes), "test.bzImage");
    } catch (Error const& error) {
        return error.what();
    }
    return "";
}

class RealKernel : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_bytes = read_kernel();
        ASSERT_FALSE(m_bytes.empty()) << kernel_path << " is missing: run guest/build-kernel (scripts/test does)";
    }
    std::vector<uint8_t> m_bytes;
};

}

TEST_F(RealKernel, ParsesAndReportsTheBootProtocol)
{
    auto const kernel = BzImage::parse(m_bytes, kernel_path);
    EXPECT_GE(kernel.protocol_version(), 0x020c);
    EXPECT_TRUE(kernel.header().xloadflags & XLF_KERNEL_64);
    EXPECT_GT(kernel.memory_needed(), kernel_load_address);
    EXPECT_EQ(kernel.cmdline_limit(), 2047u);
    EXPECT_EQ(kernel.protected_mode_kernel().size() + (kernel.header().setup_sects + 1) * 512u, m_bytes.size());
}

TEST_F(RealKernel, LoadsAtOneMegabyteWithTheEntryAt0x200)
{
    auto const kernel = BzImage::parse(m_bytes, kernel_path);
    auto memory = GuestMemory::create_flat(64 * MiB);
    EXPECT_EQ(kernel.load_into(memory), kernel_load_address + 0x200);
    auto const loaded = memory.slice(kernel_load_address, 64);
    EXPECT_TRUE(std::equal(loaded.begin(), loaded.end(), kernel.protected_mode_kernel().begin()));
}

TEST_F(RealKernel, TruncatedCopiesAreRejected)
{
    for (size_t size : { size_t(100), size_t(2000), m_bytes.size() / 2, m_bytes.size() - 1 }) {
        std::vector<uint8_t> truncated(m_bytes.begin(), m_bytes.begin() + static_cast<long>(size));
        auto const message = parse_error(truncated);
        EXPECT_FALSE(message.empty()) << "a copy truncated to " << size << " bytes was accepted";
        EXPECT_NE(message.find("test.bzImage"), std::string::npos) << message;
    }
}

TEST_F(RealKernel, CorruptCopiesAreRejected)
{
    auto corrupt = m_bytes;
    corrupt[corrupt.size() / 2] ^= 0x40;
    EXPECT_NE(parse_error(corrupt).find("corrupt"), std::string::npos);

    auto no_magic = m_bytes;
    no_magic[0x202] = 'X';
    EXPECT_NE(parse_error(no_magic).find("HdrS"), std::string::npos);

    auto old_protocol = m_bytes;
    old_protocol[0x206] = 0x0b;
    EXPECT_NE(parse_error(old_protocol).find("2.12"), std::string::npos);

    auto no_64_bit = m_bytes;
    no_64_bit[0x236] &= ~XLF_KERNEL_64;
    EXPECT_NE(parse_error(no_64_bit).find("64-bit"), std::string::npos);
}

TEST_F(RealKernel, SignedCopyWithACertificateTableAppendedParses)
{
    // What sbsign does to a kernel (Debian's stock ones): a certificate table
    // appended past the kernel, and fields of the PE header in the setup
    // code (its checksum, the table's place) patched, so that the CRC32 the
    // build appended no longer matches. Linux never checks that CRC.
    constexpr size_t patched = 0x80; // In the legacy boot sector, which no loader reads.
    auto signed_copy = m_bytes;
    signed_copy[patched] ^= 0x5a;
    signed_copy.insert(signed_copy.end(), 1472, 0x30);
    EXPECT_EQ(parse_error(signed_copy), "") << "a signed kernel was refused";
    auto const kernel = BzImage::parse(signed_copy, "signed");
    EXPECT_EQ(kernel.protocol_version(), BzImage::parse(m_bytes, "built").protocol_version());

    // The same change to a file as the build wrote it (nothing appended) is caught.
    auto patched_only = m_bytes;
    patched_only[patched] ^= 0x5a;
    EXPECT_NE(parse_error(patched_only).find("corrupt"), std::string::npos);
    // So is a signed copy cut short of the kernel its header promises.
    std::vector<uint8_t> cut(signed_copy.begin(), signed_copy.begin() + static_cast<long>(m_bytes.size() - 16));
    EXPECT_NE(parse_error(cut).find("truncated"), std::string::npos);
}

TEST(BzImage, DebiansSignedKernelParses)
{
    // The stock kernel scripts/nested-kvm boots its host with, where it was fetched.
    std::string const path = VMM_BUILD_DIR "/nested/vmlinuz";
    if (::access(path.c_str(), R_OK) != 0)
        GTEST_SKIP() << path << " is missing (scripts/nested-kvm fetches it)";
    EXPECT_NO_THROW(BzImage::load_file(path));
}

namespace {

// A minimal image that passes every check: one setup sector, 3 KiB of
// "kernel", and the CRC32 at the end.
std::vector<uint8_t> synthetic_bzimage(uint64_t pref_address, uint32_t init_size)
{
    std::vector<uint8_t> bytes(4096, 0);
    setup_header header {};
    header.setup_sects = 1;
    header.boot_flag = 0xaa55;
    header.header = 0x53726448;
    header.version = 0x020f;
    header.loadflags = LOADED_HIGH;
    header.xloadflags = XLF_KERNEL_64;
    header.syssize = 16;
    header.pref_address = pref_address;
    header.init_size = init_size;
    std::memcpy(bytes.data() + 0x1f1, &header, sizeof(header));
    uint32_t const crc = bzimage_crc32({ bytes.data(), bytes.size() - 4 });
    std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
    return bytes;
}

}

TEST(BzImage, SyntheticImageParses)
{
    auto const kernel = BzImage::parse(synthetic_bzimage(16 * MiB, 1 * MiB), "synthetic");
    EXPECT_EQ(kernel.memory_needed(), 17 * MiB);
}

TEST(BzImage, PrefAddressThatOverflowsIsRefused)
{
    // pref_address + init_size wraps around 2^64 to 0xff000: without checked
    // arithmetic memory_needed() would be tiny and pass every memory check.
    auto const message = parse_error(synthetic_bzimage(0xffffffffff000000ull, 0x1000000));
    EXPECT_NE(message.find("pref_address 0xffffffffff000000"), std::string::npos) << message;
    EXPECT_NE(message.find("test.bzImage"), std::string::npos) << message;
    EXPECT_FALSE(parse_error(synthetic_bzimage(~0ull, 1)).empty());
    EXPECT_FALSE(parse_error(synthetic_bzimage(mmio_hole_start - 4096, 8192)).empty()) << "into the MMIO hole";
    EXPECT_TRUE(parse_error(synthetic_bzimage(mmio_hole_start - 8192, 8192)).empty()) << "just below the hole";
}

TEST(BzImage, TextIsNotAKernel)
{
    std::vector<uint8_t> text(4096, 'a');
    EXPECT_NE(parse_error(text).find("not a bzImage"), std::string::npos);
    EXPECT_NE(parse_error({}).find("too short"), std::string::npos);
}

TEST(BzImage, MissingFileNamesThePath)
{
    try {
        BzImage::load_file("/nonexistent/bzImage");
        FAIL() << "no error";
    } catch (Error const& error) {
        EXPECT_STREQ(error.what(), "kernel /nonexistent/bzImage: No such file or directory");
    }
}

// The loader tells the formats apart by their contents: no flag says which.
TEST(KernelLoader, TellsTestGuestsFromBzImagesByTheirBytes)
{
    auto const directory = std::string(::testing::TempDir());
    auto write = [&](std::string const& name, std::vector<uint8_t> const& bytes) {
        auto const path = directory + "/" + name;
        std::ofstream(path, std::ios::binary).write(reinterpret_cast<char const*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        return path;
    };
    std::vector<uint8_t> guest(std::begin(arch::test_guest_magic), std::end(arch::test_guest_magic));
    guest.insert(guest.end(), { 0xf4, 0xeb, 0xfd }); // hlt; jmp .-1
    EXPECT_FALSE(arch::load_kernel_file(write("guest.bin", guest), 64 * MiB)->is_linux());
    EXPECT_TRUE(arch::load_kernel_file(kernel_path, 512 * MiB)->is_linux());
    // Raw code without the header is neither: the bzImage checks name what is missing.
    guest.erase(guest.begin(), guest.begin() + sizeof(arch::test_guest_magic));
    auto const raw = write("raw.bin", guest);
    try {
        arch::load_kernel_file(raw, 64 * MiB);
        FAIL() << "raw code was accepted as a kernel";
    } catch (Error const& error) {
        EXPECT_EQ(std::string(error.what()), "kernel " + raw + ": 3 bytes is too short for a bzImage");
    }
}

TEST(BzImage, Crc32MatchesTheStandardCheckValue)
{
    // The kernel's CRC is the standard CRC-32 without the final inversion;
    // the standard check value of "123456789" is 0xcbf43926.
    std::string const check = "123456789";
    EXPECT_EQ(~bzimage_crc32({ reinterpret_cast<uint8_t const*>(check.data()), check.size() }), 0xcbf43926u);
}

TEST_F(RealKernel, BootParamsCarryTheHeaderCmdlineInitrdAndE820)
{
    auto const kernel = BzImage::parse(m_bytes, kernel_path);
    uint64_t const memory_size = 256 * MiB;
    auto const initrd = place_initrd(kernel, 1 * MiB + 5, memory_size);
    EXPECT_EQ(initrd.address % 4096, 0u);
    EXPECT_LE(initrd.address + initrd.size, memory_size);
    EXPECT_GE(initrd.address, kernel.memory_needed());

    auto const params = build_boot_params(kernel, memory_size, 100, initrd);
    EXPECT_EQ(params.hdr.header, 0x53726448u);
    EXPECT_EQ(params.hdr.type_of_loader, 0xff);
    EXPECT_TRUE(params.hdr.loadflags & LOADED_HIGH);
    EXPECT_TRUE(params.hdr.loadflags & CAN_USE_HEAP);
    EXPECT_EQ(params.hdr.cmd_line_ptr, cmdline_address);
    EXPECT_EQ(params.hdr.ramdisk_image, initrd.address);
    EXPECT_EQ(params.hdr.ramdisk_size, 1 * MiB + 5);
    ASSERT_EQ(params.e820_entries, 3);
    EXPECT_EQ(params.e820_table[0].addr, 0u);
    EXPECT_EQ(params.e820_table[0].size, mptable_address);
    EXPECT_EQ(params.e820_table[0].type, 1u);
    EXPECT_EQ(params.e820_table[1].type, 2u) << "the MP table is reserved";
    EXPECT_EQ(params.e820_table[2].addr, high_memory_start);
    EXPECT_EQ(params.e820_table[2].addr + params.e820_table[2].size, memory_size);
}

TEST_F(RealKernel, InitrdThatDoesNotFitIsAnError)
{
    auto const kernel = BzImage::parse(m_bytes, kernel_path);
    EXPECT_THROW(place_initrd(kernel, 200 * MiB, 64 * MiB), Error);
}

TEST(E820, LargeGuestsSkipTheMmioHole)
{
    auto const map = build_e820_map(5 * GiB);
    ASSERT_EQ(map.size(), 4u);
    EXPECT_EQ(map[2].addr + map[2].size, mmio_hole_start);
    EXPECT_EQ(map[3].addr, high_ram_start);
    EXPECT_EQ(map[3].size, 2 * GiB);
    uint64_t ram = 0;
    for (auto const& entry : map)
        ram += entry.type == 1 ? entry.size : 0;
    EXPECT_EQ(ram, 5 * GiB - (high_memory_start - mptable_address));
}
