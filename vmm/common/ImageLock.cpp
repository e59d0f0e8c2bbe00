#include "common/ImageLock.h"

#include "common/Error.h"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>

namespace vmm {

void lock_image(int fd, std::string_view path, ImageLockKind kind)
{
    struct flock lock {};
    lock.l_type = kind == ImageLockKind::Exclusive ? F_WRLCK : F_RDLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = 0;
    lock.l_len = 0; // The whole file, however it grows.
    if (fcntl(fd, F_OFD_SETLK, &lock) == 0)
        return;
    if (errno == EAGAIN || errno == EACCES) {
        throw Error(fmt::format("disk image {} is in use by another VM or container ({})", path,
            kind == ImageLockKind::Exclusive ? "stop it, or share the image read-only with PATH,ro" : "it has the image open read-write"));
    }
    throw_system_error("fcntl F_OFD_SETLK", path);
}

}
