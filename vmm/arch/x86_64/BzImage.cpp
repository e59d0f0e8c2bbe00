#include "vmm/arch/x86_64/BzImage.h"

#include "vmm/arch/x86_64/Layout.h"
#include "common/Error.h"
#include "common/FileDescriptor.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fmt/format.h>

namespace vmm::x86_64 {

namespace {

constexpr size_t setup_header_offset = 0x1f1;
constexpr uint32_t header_magic = 0x53726448; // "HdrS"
constexpr uint16_t minimum_protocol = 0x020c; // 2.12: xloadflags and the 64-bit entry.
constexpr uint16_t boot_flag = 0xaa55;
constexpr uint64_t entry_64_offset = 0x200;

std::array<uint32_t, 256> make_crc_table()
{
    std::array<uint32_t, 256> table {};
    for (uint32_t index = 0; index < 256; ++index) {
        uint32_t value = index;
        for (int bit = 0; bit < 8; ++bit)
            value = (value & 1) ? (value >> 1) ^ 0xedb88320u : value >> 1;
        table[index] = value;
    }
    return table;
}

}

uint32_t bzimage_crc32(std::span<uint8_t const> bytes)
{
    static auto const table = make_crc_table();
    uint32_t crc = 0xffffffffu;
    for (auto byte : bytes)
        crc = table[(crc ^ byte) & 0xff] ^ (crc >> 8);
    return crc;
}

BzImage BzImage::load_file(std::string const& path)
{
    return parse(read_file(path, "kernel", maximum_size), path);
}

BzImage BzImage::parse(std::vector<uint8_t> bytes, std::string const& name)
{
    auto fail = [&](std::string const& problem) -> BzImage {
        throw Error(fmt::format("kernel {}: {}", name, problem));
    };
    if (bytes.size() < 1024)
        return fail(fmt::format("{} bytes is too short for a bzImage", bytes.size()));
    setup_header header {};
    std::memcpy(&header, bytes.data() + setup_header_offset, std::min(sizeof(header), bytes.size() - setup_header_offset));
    if (header.header != header_magic)
        return fail("not a bzImage (no \"HdrS\" boot protocol magic at offset 0x202)");
    if (header.boot_flag != boot_flag)
        return fail("not a bzImage (no 0xAA55 boot flag at offset 0x1fe)");
    if (header.version < minimum_protocol)
        return fail(fmt::format("boot protocol {}.{:02} is older than the 2.12 vmm needs", header.version >> 8, header.version & 0xff));
    if (!(header.xloadflags & XLF_KERNEL_64))
        return fail("the kernel has no 64-bit entry point (XLF_KERNEL_64 is not set)");
    if (!(header.loadflags & LOADED_HIGH))
        return fail("a zImage that loads low; vmm boots bzImages only");
    size_t const setup_sectors = header.setup_sects == 0 ? 4 : header.setup_sects;
    size_t const setup_size = (setup_sectors + 1) * 512;
    if (setup_size >= bytes.size())
        return fail(fmt::format("truncated: the setup code ({} bytes) is not followed by a kernel", setup_size));
    size_t const kernel_size = bytes.size() - setup_size;
    if (uint64_t(header.syssize) * 16 > kernel_size)
        return fail(fmt::format("truncated: the header promises {} bytes of kernel, the file has {}", uint64_t(header.syssize) * 16, kernel_size));
    if (uint64_t(header.payload_offset) + header.payload_length > kernel_size)
        return fail("truncated: the compressed kernel ends past the end of the file");
    // Where the kernel runs and how much it needs there, with checked
    // arithmetic: a pref_address near 2^64 must not wrap memory_needed()
    // around to a small number that passes the memory checks.
    uint64_t const run_address = std::max<uint64_t>(kernel_load_address, header.pref_address);
    uint64_t const run_size = std::max<uint64_t>(header.init_size, kernel_size);
    uint64_t run_end = 0;
    if (__builtin_add_overflow(run_address, run_size, &run_end) || run_end > mmio_hole_start)
        return fail(fmt::format("pref_address {:#x} with init_size {:#x} does not fit below {:#x}, the end of low guest memory",
            uint64_t(header.pref_address), uint64_t(header.init_size), mmio_hole_start));
    // The kernel's build (arch/x86/boot/tools/build.c) pads the file to
    // exactly the setup code and syssize paragraphs, whose last four bytes
    // are a CRC32 of the rest: a file as built is checked against it. Linux
    // itself never checks that CRC, and a signed kernel (sbsign, as
    // Debian's are) has a certificate table appended and the PE header in
    // the setup code patched, so there the CRC no longer matches: a longer
    // file is checked by the header's sizes above alone.
    if (bytes.size() == setup_size + uint64_t(header.syssize) * 16) {
        uint32_t stored_crc = 0;
        std::memcpy(&stored_crc, bytes.data() + bytes.size() - sizeof(stored_crc), sizeof(stored_crc));
        if (bzimage_crc32({ bytes.data(), bytes.size() - sizeof(stored_crc) }) != stored_crc)
            return fail("corrupt: the CRC32 at the end of the file does not match its contents");
    }
    return BzImage(std::move(bytes), header, setup_size);
}

std::span<uint8_t const> BzImage::header_bytes() const
{
    // The header runs from 0x1f1 to the end of the jump at 0x200, whose
    // second byte (at 0x201) gives the header's length past 0x202.
    size_t const end = std::min<size_t>(0x202 + m_bytes[0x201], setup_header_offset + sizeof(setup_header));
    return std::span(m_bytes).subspan(setup_header_offset, end - setup_header_offset);
}

std::span<uint8_t const> BzImage::protected_mode_kernel() const
{
    return std::span(m_bytes).subspan(m_setup_size);
}

uint32_t BzImage::cmdline_limit() const
{
    return std::min<uint32_t>(m_header.cmdline_size, cmdline_max_size - 1);
}

uint64_t BzImage::memory_needed() const
{
    // A non-relocatable kernel decompresses itself to pref_address; either
    // way it needs init_size bytes from where it ends up running. parse()
    // made sure that the sum stays below mmio_hole_start.
    uint64_t const run_address = std::max<uint64_t>(kernel_load_address, m_header.pref_address);
    return run_address + std::max<uint64_t>(m_header.init_size, protected_mode_kernel().size());
}

uint64_t BzImage::load_into(GuestMemory const& memory) const
{
    auto kernel = protected_mode_kernel();
    if (!memory.contains(kernel_load_address, kernel.size()))
        throw Error(fmt::format("the kernel ({} bytes) does not fit in guest memory", kernel.size()));
    memory.write_bytes(kernel_load_address, kernel);
    return kernel_load_address + entry_64_offset;
}

}
