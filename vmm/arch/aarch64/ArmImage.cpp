#include "vmm/arch/aarch64/ArmImage.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "vmm/arch/aarch64/Layout.h"

#include <cstring>
#include <fmt/format.h>

namespace vmm::aarch64 {

namespace {

// flags bit 0: the kernel's endianness; bit 3: whether it may be placed
// anywhere in RAM (vmm always uses the lowest 2 MiB aligned base).
constexpr uint64_t flag_big_endian = 1u << 0;
constexpr uint64_t largest_image = ArmImage::maximum_size;

}

ArmImage ArmImage::load_file(std::string const& path)
{
    return parse(read_file(path, "kernel", largest_image), path);
}

ArmImage ArmImage::parse(std::vector<uint8_t> bytes, std::string const& name)
{
    auto fail = [&](std::string const& problem) -> Error { return Error(fmt::format("kernel {}: {}", name, problem)); };
    ArmImageHeader header {};
    if (bytes.size() < sizeof(header))
        throw fail(fmt::format("{} bytes is too short for an arm64 Image (its header alone is {} bytes)", bytes.size(), sizeof(header)));
    std::memcpy(&header, bytes.data(), sizeof(header));
    if (header.magic != arm64_image_magic)
        throw fail(fmt::format("not an arm64 Image: magic {:#010x} at offset 56, expected {:#010x} (\"ARM\\x64\"); "
                               "a compressed Image.gz or a vmlinux ELF must be unpacked to arch/arm64/boot/Image",
            header.magic, arm64_image_magic));
    if (header.image_size == 0)
        throw fail("image_size is 0: a kernel older than 3.17, which vmm cannot place");
    if (header.flags & flag_big_endian)
        throw fail("a big-endian kernel; vmm runs little-endian guests only");
    if (header.text_offset % initrd_alignment != 0 || header.text_offset >= kernel_alignment)
        throw fail(fmt::format("text_offset {:#x} is not a 4 KiB aligned offset below 2 MiB", header.text_offset));
    if (header.image_size > largest_image)
        throw fail(fmt::format("image_size {:#x} is more than the {} MiB vmm accepts", header.image_size, largest_image >> 20));
    if (bytes.size() > header.image_size)
        throw fail(fmt::format("the file ({} bytes) is larger than the header's image_size ({} bytes)", bytes.size(), header.image_size));
    return ArmImage(std::move(bytes), header, name);
}

void ArmImage::check_fits(uint64_t memory_size) const
{
    uint64_t const end = m_header.text_offset + m_header.image_size;
    uint64_t const usable = memory_size > device_tree_max_size ? memory_size - device_tree_max_size : 0;
    if (end > usable)
        throw Error(fmt::format("--mem: {} MiB is too small for kernel {}: its image_size ({} bytes from offset {:#x}) runs past the end "
                                "of guest RAM below the device tree; it needs at least {} MiB",
            memory_size >> 20, m_name, m_header.image_size, m_header.text_offset, (end + device_tree_max_size + MiB - 1) >> 20));
}

}
