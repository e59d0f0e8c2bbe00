#pragma once

#include "common/FileDescriptor.h"

#include <string>
#include <string_view>

namespace vmm {

// Whether the file open as `image_fd` has the ext4 superblock magic.
bool is_ext4_image(int image_fd);

// Throws "PATH: not an ext4 image" unless the file open as `image_fd` has the
// ext4 superblock magic (0xEF53 at byte 1080).
void check_ext4_image(int image_fd, std::string_view path);

// Throws, naming `path`, when the ext4 image open as `image_fd` has a
// journal to replay (it was not unmounted cleanly), which only a read-write
// mount can do: a read-only user's mount would fail.
void check_ext4_journal_is_clean(int image_fd, std::string_view path);

enum class ImageAccess {
    ReadWrite, // Locked against every other user.
    ReadOnly,  // A read-only device, shared with other read-only users (VMs' PATH,ro too).
};

// A loop device bound to an image file with LO_FLAGS_AUTOCLEAR: the kernel
// detaches it when the last user (this object or a mount of it) goes away,
// so neither a crash nor an error path leaves a loop device behind.
class LoopDevice {
public:
    static LoopDevice attach(std::string_view image_path, ImageAccess access = ImageAccess::ReadWrite);

    LoopDevice(LoopDevice&&) = default;
    LoopDevice& operator=(LoopDevice&&) = default;
    ~LoopDevice();

    std::string const& device_path() const { return m_device_path; }

private:
    LoopDevice(FileDescriptor image, FileDescriptor device, std::string device_path)
        : m_image(std::move(image))
        , m_device(std::move(device))
        , m_device_path(std::move(device_path))
    {
    }

    FileDescriptor m_image; // Holds the image lock (and names its holder to others).
    FileDescriptor m_device;
    std::string m_device_path;
};

}
