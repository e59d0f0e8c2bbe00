#pragma once

// The arm64 Linux `Image` (Documentation/arm64/booting.rst): an uncompressed
// kernel with a 64-byte header giving its magic, the offset from a 2 MiB
// aligned base it must be loaded at, and the memory it occupies.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vmm::aarch64 {

// The header, little-endian, as the kernel's head.S lays it out.
struct ArmImageHeader {
    uint32_t code0;
    uint32_t code1;
    uint64_t text_offset;
    uint64_t image_size;
    uint64_t flags;
    uint64_t reserved2;
    uint64_t reserved3;
    uint64_t reserved4;
    uint32_t magic;
    uint32_t reserved5;
};
static_assert(sizeof(ArmImageHeader) == 64);

inline constexpr uint32_t arm64_image_magic = 0x644d5241; // "ARM\x64"

class ArmImage {
public:
    // More than any kernel needs, so that a corrupt size is one clear error.
    static constexpr uint64_t maximum_size = 1ull << 30;

    // Reads and validates `path`; every failure is one Error naming the file and the problem.
    static ArmImage load_file(std::string const& path);
    // Validates an image already in memory; `name` is used in error messages.
    static ArmImage parse(std::vector<uint8_t> bytes, std::string const& name);

    ArmImageHeader const& header() const { return m_header; }
    std::span<uint8_t const> bytes() const { return m_bytes; }
    // Where the image goes in guest memory, above the 2 MiB aligned `ram_base`.
    uint64_t load_address(uint64_t ram_base) const { return ram_base + m_header.text_offset; }
    // The memory the kernel occupies from its load address (text, data and BSS).
    uint64_t memory_size() const { return m_header.image_size; }
    // Throws an Error naming --mem when the kernel's image_size, from its
    // load address, runs past the RAM below the device tree's 2 MiB.
    void check_fits(uint64_t memory_size) const;

private:
    ArmImage(std::vector<uint8_t> bytes, ArmImageHeader header, std::string name)
        : m_bytes(std::move(bytes))
        , m_header(header)
        , m_name(std::move(name))
    {
    }

    std::vector<uint8_t> m_bytes;
    ArmImageHeader m_header;
    std::string m_name;
};

}
