// The parent's side of the container's root (what the user named, opened
// and checked); container/RootFilesystem.cpp mounts it in the child.
#include "container/RootFilesystem.h"

#include "common/ArchiveCache.h"
#include "common/Error.h"
#include "common/Mount.h"
#include "common/RootTree.h"
#include "common/cgroup/Cgroup.h"

#include <climits>
#include <cstdlib>
#include <fcntl.h>
#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

namespace vmm::container {

namespace {

// An image that a container of a killed vmm still holds (its loop device
// and lock) is freed by the cgroup sweep, which ends such a container: then
// it is tried again for a moment, as the loop device lets go of the image
// only just after the container's last process has exited.
LoopDevice attach_image(std::string const& path, ImageAccess access)
{
    try {
        return LoopDevice::attach(path, access);
    } catch (Error const&) {
        if (::geteuid() != 0 || !sweep_stale_cgroups())
            throw;
    }
    for (int attempt = 0;; ++attempt) {
        try {
            return LoopDevice::attach(path, access);
        } catch (Error const&) {
            if (attempt == 50)
                throw;
        }
        timespec pause { 0, 20000000 };
        ::nanosleep(&pause, nullptr);
    }
}

}

RootSource open_root_source(std::string const& path, DirectoryWrites writes, ImageAccess access)
{
    RootSource source;
    source.display_path = path;
    switch (classify_root(path)) {
    case RootKind::Directory: {
        char resolved[PATH_MAX];
        if (!::realpath(path.c_str(), resolved))
            throw_system_error("realpath", path);
        source.directory = resolved;
        return source;
    }
    case RootKind::Archive:
        // A tar archive runs as the directory it unpacks to, once, in vmm's
        // cache: the archive itself is only read, and the cache is shared.
        if (writes == DirectoryWrites::InPlace)
            throw Error(fmt::format("{}: --root-writes in-place takes a directory (a tar archive's tree is vmm's shared cache, never written)", path));
        source.directory = unpacked_archive(path).string();
        return source;
    case RootKind::Ext4Image:
        break;
    }
    if (::geteuid() != 0)
        throw Error(fmt::format("{}: mounting an ext4 image needs root (a rootfs directory does not)", path));
    source.loop_device = attach_image(path, access);
    bool const read_only = access == ImageAccess::ReadOnly;
    source.image_mount = create_mount("ext4", source.loop_device->device_path(), read_only ? MountOptions { { "ro", "" } } : MountOptions {},
        MountAttributes::NoSuid | MountAttributes::NoDev | (read_only ? MountAttributes::ReadOnly : MountAttributes::None), path);
    return source;
}

void check_has_shell(RootSource const& source)
{
    if (source.image_mount.is_valid())
        return check_tree_has_shell(source.image_mount.get(), source.display_path);
    auto directory = FileDescriptor::open(source.directory, O_PATH | O_DIRECTORY);
    check_tree_has_shell(directory.get(), source.display_path);
}

void map_root_ids(RootSource& source, int user_namespace_fd)
{
    if (source.image_mount.is_valid()) {
        set_mount_id_map(source.image_mount.get(), user_namespace_fd, source.display_path);
        return;
    }
    source.directory_tree = clone_mount_tree(source.directory);
    set_mount_id_map(source.directory_tree.get(), user_namespace_fd, source.display_path);
}

void open_root_directory(RootSource& source)
{
    if (!source.directory.empty())
        source.directory_target = FileDescriptor::open(source.directory, O_PATH | O_DIRECTORY);
}

}
