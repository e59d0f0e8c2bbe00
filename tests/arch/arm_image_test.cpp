// The arm64 Image header checks: each bad input is one Error naming the
// problem. Builds and runs on any host (no KVM).
#include "common/Error.h"
#include "vmm/arch/aarch64/ArmImage.h"
#include "vmm/arch/aarch64/Layout.h"

#include <cstring>
#include <gtest/gtest.h>
#include <string>

using namespace vmm;
using namespace vmm::aarch64;

namespace {

std::vector<uint8_t> image(uint64_t text_offset = 0, uint64_t image_size = 4 * MiB, size_t file_size = 1 * MiB)
{
    ArmImageHeader header {};
    header.code0 = 0x91005a4d; // "MZ" then a branch, as the kernel's head.S starts.
    header.text_offset = text_offset;
    header.image_size = image_size;
    header.flags = 0x2; // Little-endian, 4 KiB pages.
    header.magic = arm64_image_magic;
    std::vector<uint8_t> bytes(file_size);
    std::memcpy(bytes.data(), &header, sizeof(header));
    return bytes;
}

// The message of the Error that parsing (and then placing) `bytes` throws.
std::string error_of(std::vector<uint8_t> bytes, uint64_t memory_size = 512 * MiB)
{
    try {
        ArmImage::parse(std::move(bytes), "/k/Image").check_fits(memory_size);
    } catch (Error const& error) {
        return error.what();
    }
    ADD_FAILURE() << "no error";
    return {};
}

}

TEST(ArmImage, AcceptsAKernelAndPlacesItAtItsTextOffset)
{
    auto const kernel = ArmImage::parse(image(0x80000), "Image");
    EXPECT_EQ(kernel.load_address(ram_base), ram_base + 0x80000);
    EXPECT_EQ(kernel.memory_size(), 4 * MiB);
    EXPECT_EQ(kernel.bytes().size(), 1 * MiB);
    EXPECT_EQ(ram_base % kernel_alignment, 0u) << "the base an Image is placed above must be 2 MiB aligned";
    EXPECT_NO_THROW(kernel.check_fits(16 * MiB));
}

TEST(ArmImage, BadMagicIsOneClearError)
{
    auto bytes = image();
    bytes[56] = 'X';
    auto const message = error_of(bytes);
    EXPECT_NE(message.find("kernel /k/Image: not an arm64 Image"), std::string::npos) << message;
    EXPECT_NE(message.find("magic"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos);
}

TEST(ArmImage, TruncatedHeaderIsRefused)
{
    auto const message = error_of(std::vector<uint8_t>(40, 0));
    EXPECT_NE(message.find("too short"), std::string::npos) << message;
}

TEST(ArmImage, MisalignedTextOffsetIsRefused)
{
    auto const message = error_of(image(0x80010));
    EXPECT_NE(message.find("text_offset 0x80010"), std::string::npos) << message;
    EXPECT_NE(error_of(image(2 * MiB)).find("text_offset"), std::string::npos) << "past the 2 MiB the base is aligned to";
}

TEST(ArmImage, ImageSizePastTheEndOfRamIsRefused)
{
    // 64 MiB of kernel from offset 0 cannot sit below the device tree in 32 MiB of RAM.
    auto const message = error_of(image(0, 64 * MiB), 32 * MiB);
    EXPECT_NE(message.find("--mem: 32 MiB is too small for kernel /k/Image"), std::string::npos) << message;
    EXPECT_NE(message.find("image_size"), std::string::npos) << message;
}

TEST(ArmImage, ImageSizeSmallerThanTheFileIsRefused)
{
    auto const message = error_of(image(0, 512 * KiB, 1 * MiB));
    EXPECT_NE(message.find("larger than the header's image_size"), std::string::npos) << message;
    EXPECT_NE(error_of(image(0, 0)).find("image_size is 0"), std::string::npos);
}

TEST(ArmImage, BigEndianKernelIsRefused)
{
    auto bytes = image();
    bytes[24] |= 1; // flags bit 0.
    EXPECT_NE(error_of(bytes).find("big-endian"), std::string::npos);
}
