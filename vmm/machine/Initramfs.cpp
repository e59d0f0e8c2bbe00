#include "vmm/machine/Initramfs.h"

#include "guest/EmbeddedInit.h"
#include "common/Error.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <utility>

namespace vmm {

namespace {

// The mount points guest/init needs before it switches to /dev/vda, which it
// mounts on /newroot.
constexpr char const* initramfs_directories[] = { "dev", "proc", "sys", "newroot" };

}

void CpioWriter::add_directory(std::string_view path, mode_t permissions)
{
    add_entry(path, S_IFDIR | (permissions & 07777), {});
}

void CpioWriter::add_file(std::string_view path, mode_t permissions, std::span<uint8_t const> contents)
{
    add_entry(path, S_IFREG | (permissions & 07777), contents);
}

void CpioWriter::add_entry(std::string_view path, mode_t mode, std::span<uint8_t const> contents)
{
    if (path.empty() || path.find('\0') != std::string_view::npos)
        throw Error(fmt::format("cpio: '{}' is not a valid entry name", path));
    if (contents.size() > UINT32_MAX)
        throw Error(fmt::format("cpio: {} is {} bytes; newc entries hold at most 4 GiB", path, contents.size()));
    bool const is_directory = S_ISDIR(mode);
    // Fields: magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
    // devminor, rdevmajor, rdevminor, namesize (with the NUL), check (0).
    auto const header = fmt::format("070701{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
        path == "TRAILER!!!" ? 0 : m_next_inode++, static_cast<uint32_t>(mode), 0, 0, is_directory ? 2 : 1, 0,
        static_cast<uint32_t>(contents.size()), 0, 0, 0, 0, static_cast<uint32_t>(path.size() + 1), 0);
    m_bytes.insert(m_bytes.end(), header.begin(), header.end());
    m_bytes.insert(m_bytes.end(), path.begin(), path.end());
    m_bytes.push_back(0);
    pad_to_four();
    m_bytes.insert(m_bytes.end(), contents.begin(), contents.end());
    pad_to_four();
}

void CpioWriter::pad_to_four()
{
    while (m_bytes.size() % 4 != 0)
        m_bytes.push_back(0);
}

std::vector<uint8_t> CpioWriter::finish()
{
    add_entry("TRAILER!!!", 0, {});
    m_next_inode = 1;
    return std::exchange(m_bytes, {});
}

std::vector<uint8_t> build_vmm_initramfs()
{
    CpioWriter writer;
    for (auto const* directory : initramfs_directories)
        writer.add_directory(directory, 0755);
    writer.add_file("init", 0755, embedded_init());
    return writer.finish();
}

}
