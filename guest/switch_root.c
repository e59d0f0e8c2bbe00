#include "guest/switch_root.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define NEW_ROOT "/newroot"
/* virtio-mmio devices are probed before init starts; the wait only covers a
 * driver that registers the disk late. */
#define ROOT_DEVICE_WAIT_MS 5000

int vmm_root_is_initramfs(void)
{
    struct statfs status;
    if (statfs("/", &status) != 0)
        return 0;
    return status.f_type == RAMFS_MAGIC || status.f_type == TMPFS_MAGIC;
}

static int wait_for_device(const char *path)
{
    struct stat status;
    for (int waited = 0; waited < ROOT_DEVICE_WAIT_MS; waited += 10) {
        if (stat(path, &status) == 0)
            return 0;
        struct timespec pause = { 0, 10 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
    return stat(path, &status);
}

/* Removes everything below the directory `fd` that is on device `device`,
 * as switch_root(8) does: the initramfs's files live in RAM until deleted. */
static void remove_tree(int fd, dev_t device)
{
    DIR *directory = fdopendir(fd);
    if (!directory) {
        close(fd);
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        struct stat status;
        if (fstatat(dirfd(directory), entry->d_name, &status, AT_SYMLINK_NOFOLLOW) != 0 || status.st_dev != device)
            continue;
        if (S_ISDIR(status.st_mode)) {
            int child = openat(dirfd(directory), entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (child >= 0)
                remove_tree(child, device);
            unlinkat(dirfd(directory), entry->d_name, AT_REMOVEDIR);
        } else {
            unlinkat(dirfd(directory), entry->d_name, 0);
        }
    }
    closedir(directory);
}

/* Moves the mount on /NAME to /newroot/NAME. A missing mount point is made
 * only on a writable disk; otherwise the mount is dropped. */
static void move_mount_into_new_root(const char *name, int writable)
{
    char source[64];
    char target[64];
    snprintf(source, sizeof(source), "/%s", name);
    snprintf(target, sizeof(target), NEW_ROOT "/%s", name);
    struct stat status;
    if (stat(target, &status) != 0 && writable)
        mkdir(target, 0755);
    if (stat(target, &status) == 0 && S_ISDIR(status.st_mode) && mount(source, target, NULL, MS_MOVE, NULL) == 0)
        return;
    umount2(source, MNT_DETACH);
}

int vmm_switch_to_root_disk(enum vmm_root_disk access)
{
    int writable = access == VMM_ROOT_READ_WRITE;
    if (wait_for_device(VMM_ROOT_DEVICE) != 0) {
        fprintf(stderr, "vmm-init: the root disk %s did not appear: %s\n", VMM_ROOT_DEVICE, strerror(errno));
        return -1;
    }
    int mounted = mount(VMM_ROOT_DEVICE, NEW_ROOT, "ext4", writable ? 0 : MS_RDONLY, NULL);
    /* A disk whose journal needs replaying cannot be replayed read-only:
     * mount it as it is on disk, as the kernel suggests. */
    if (mounted != 0 && !writable && errno == EROFS)
        mounted = mount(VMM_ROOT_DEVICE, NEW_ROOT, "ext4", MS_RDONLY, "noload");
    if (mounted != 0) {
        fprintf(stderr, "vmm-init: mount %s (ext4%s) on /: %s (is the root filesystem an ext4 image?)\n", VMM_ROOT_DEVICE,
                writable ? "" : ", read-only", strerror(errno));
        return -1;
    }
    move_mount_into_new_root("dev", writable);
    move_mount_into_new_root("proc", writable);
    move_mount_into_new_root("sys", writable);

    struct stat root_status;
    int root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0 || fstat(root_fd, &root_status) != 0) {
        fprintf(stderr, "vmm-init: open / (the initramfs): %s\n", strerror(errno));
        return -1;
    }
    if (chdir(NEW_ROOT) != 0 || mount(".", "/", NULL, MS_MOVE, NULL) != 0 || chroot(".") != 0 || chdir("/") != 0) {
        fprintf(stderr, "vmm-init: switching the root to %s: %s\n", VMM_ROOT_DEVICE, strerror(errno));
        close(root_fd);
        return -1;
    }
    /* The disk now covers /newroot in the old root, so only the initramfs's
     * own files are left to remove, through the fd opened before the move. */
    remove_tree(root_fd, root_status.st_dev);
    return 0;
}
