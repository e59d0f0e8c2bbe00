#include "common/LoopDevice.h"

#include "common/Error.h"
#include "common/ImageLock.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm {

namespace {

constexpr off_t ext4_magic_offset = 1080;
constexpr uint16_t ext4_magic = 0xEF53;
// s_feature_incompat (superblock offset 0x60) and its "the journal needs
// recovery" bit, EXT4_FEATURE_INCOMPAT_RECOVER.
constexpr off_t ext4_incompatible_features_offset = 1024 + 0x60;
constexpr uint32_t ext4_needs_recovery = 0x4;
constexpr int attach_attempts = 8;

}

bool is_ext4_image(int image_fd)
{
    uint8_t bytes[2] {};
    ssize_t length = ::pread(image_fd, bytes, sizeof(bytes), ext4_magic_offset);
    // The superblock is little endian.
    return length == sizeof(bytes) && (bytes[0] | (bytes[1] << 8)) == ext4_magic;
}

void check_ext4_image(int image_fd, std::string_view path)
{
    if (!is_ext4_image(image_fd))
        throw Error(fmt::format("{}: not an ext4 image", path));
}

void check_ext4_journal_is_clean(int image_fd, std::string_view path)
{
    uint8_t bytes[4] {};
    if (::pread(image_fd, bytes, sizeof(bytes), ext4_incompatible_features_offset) != sizeof(bytes))
        return;
    uint32_t const features = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (uint32_t(bytes[3]) << 24);
    if (features & ext4_needs_recovery)
        throw Error(fmt::format("{}: its journal needs recovery (it was not unmounted cleanly), which a read-only user cannot do: "
                                "use it read-write once, or run e2fsck -p on it",
            path));
}

LoopDevice LoopDevice::attach(std::string_view image_path, ImageAccess access)
{
    bool const read_only = access == ImageAccess::ReadOnly;
    auto image = open_disk_image(image_path, read_only ? O_RDONLY : O_RDWR);
    check_ext4_image(image.get(), image_path);
    // The lock `vmm boot` takes on its disks: two writers of one ext4 image
    // (two containers, or a container and a VM) would corrupt it, while
    // readers may share it. The loop device shares this open file, so the
    // lock lasts while it is bound.
    lock_image(image.get(), image_path, read_only ? ImageLockKind::Shared : ImageLockKind::Exclusive);
    // The kernel replays a journal at mount, which a read-only device cannot
    // take (it refuses the mount as "Read-only file system"). Checked under
    // the lock: an image a writer has mounted has a journal in use, and its
    // user must be told that, not to run e2fsck on a mounted file system.
    if (read_only)
        check_ext4_journal_is_clean(image.get(), image_path);
    auto control = FileDescriptor::open("/dev/loop-control", O_RDWR);

    // Another process may take the free device between GET_FREE and
    // CONFIGURE; that shows up as EBUSY and we simply ask again.
    for (int attempt = 0; attempt < attach_attempts; ++attempt) {
        int number = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
        if (number < 0)
            throw_system_error("ioctl LOOP_CTL_GET_FREE", "/dev/loop-control");
        auto device_path = fmt::format("/dev/loop{}", number);
        auto device = FileDescriptor::open(device_path, read_only ? O_RDONLY : O_RDWR);

        loop_config config {};
        config.fd = static_cast<uint32_t>(image.get());
        config.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
        std::strncpy(reinterpret_cast<char*>(config.info.lo_file_name), std::string(image_path).c_str(), LO_NAME_SIZE - 1);
        if (::ioctl(device.get(), LOOP_CONFIGURE, &config) == 0)
            return LoopDevice(std::move(image), std::move(device), std::move(device_path));
        if (errno == EBUSY)
            continue;
        if (errno != EINVAL && errno != ENOTTY)
            throw_system_error("ioctl LOOP_CONFIGURE", device_path);

        // Kernels before 5.8 lack LOOP_CONFIGURE: bind, then set the flags.
        if (::ioctl(device.get(), LOOP_SET_FD, image.get()) < 0) {
            if (errno == EBUSY)
                continue;
            throw_system_error("ioctl LOOP_SET_FD", device_path);
        }
        if (::ioctl(device.get(), LOOP_SET_STATUS64, &config.info) < 0) {
            int saved_errno = errno;
            ::ioctl(device.get(), LOOP_CLR_FD, 0);
            errno = saved_errno;
            throw_system_error("ioctl LOOP_SET_STATUS64", device_path);
        }
        return LoopDevice(std::move(image), std::move(device), std::move(device_path));
    }
    throw Error(fmt::format("{}: no free loop device", image_path));
}

LoopDevice::~LoopDevice()
{
    // With a mount still holding the device, LOOP_CLR_FD fails with EBUSY and
    // autoclear detaches it when that mount goes; otherwise it detaches now.
    if (m_device.is_valid())
        ::ioctl(m_device.get(), LOOP_CLR_FD, 0);
}

}
