#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace vmm {

// Writes a cpio archive in the "newc" format (the one the kernel unpacks as
// an initramfs, see Documentation/driver-api/early-userspace/buffer-format.rst):
// each entry is a 110-byte ASCII header, the name, and the data, the last two
// padded to 4 bytes; the archive ends with the entry "TRAILER!!!".
class CpioWriter {
public:
    // Paths are relative ("init", "dev"): the kernel unpacks them below /.
    void add_directory(std::string_view path, mode_t permissions);
    void add_file(std::string_view path, mode_t permissions, std::span<uint8_t const> contents);

    // Appends the trailer and returns the archive; the writer is empty afterwards.
    std::vector<uint8_t> finish();

private:
    void add_entry(std::string_view path, mode_t mode, std::span<uint8_t const> contents);
    void pad_to_four();

    std::vector<uint8_t> m_bytes;
    uint32_t m_next_inode { 1 };
};

// The initramfs vmm boots with when no --initrd is given: /init (guest/init,
// carried inside vmm) and the directories it mounts on before it switches
// to the root disk.
std::vector<uint8_t> build_vmm_initramfs();

}
