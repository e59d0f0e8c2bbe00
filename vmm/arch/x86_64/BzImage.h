#pragma once

#include "vmm/memory/GuestMemory.h"

#include <asm/bootparam.h>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vmm::x86_64 {

// A Linux bzImage, checked against the x86 boot protocol before anything is
// loaded: "HdrS" magic, protocol >= 2.12, a 64-bit entry point, a setup size
// and payload inside the file, and, in a file as the kernel's build wrote it
// (not one signed since), the CRC32 that the build appends.
class BzImage {
public:
    // Larger files are refused before they are read.
    static constexpr uint64_t maximum_size = 256ull << 20;

    // Reads and validates `path`; every failure is an Error naming the file and the problem.
    static BzImage load_file(std::string const& path);
    // Validates an image already in memory; `name` is used in error messages.
    static BzImage parse(std::vector<uint8_t> bytes, std::string const& name);

    setup_header const& header() const { return m_header; }
    // The bytes of the setup header as in the file, to copy into boot_params.
    std::span<uint8_t const> header_bytes() const;
    // The 64-bit protected-mode kernel, loaded at kernel_load_address.
    std::span<uint8_t const> protected_mode_kernel() const;
    uint16_t protocol_version() const { return m_header.version; }
    // The most command-line bytes the kernel accepts, without the terminating zero.
    uint32_t cmdline_limit() const;
    // Guest RAM the kernel needs above kernel_load_address to decompress and run.
    uint64_t memory_needed() const;

    // Copies the protected-mode kernel into guest memory and returns the 64-bit entry point.
    uint64_t load_into(GuestMemory const& memory) const;

private:
    BzImage(std::vector<uint8_t> bytes, setup_header header, size_t setup_size)
        : m_bytes(std::move(bytes))
        , m_header(header)
        , m_setup_size(setup_size)
    {
    }

    std::vector<uint8_t> m_bytes;
    setup_header m_header;
    size_t m_setup_size;
};

// The CRC32 that arch/x86/boot/tools/build.c appends (initial value ~0, no final inversion).
uint32_t bzimage_crc32(std::span<uint8_t const> bytes);

}
