/*
 * guest/init in vmm's own initramfs: mount the root disk and make it /.
 */
#pragma once

#include "guest/protocol.h"

/*
 * Mounts VMM_ROOT_DEVICE (ext4, read-only for VMM_ROOT_READ_ONLY) on
 * /newroot, moves /dev, /proc and /sys there (making their mount points only
 * on a writable disk), frees the initramfs as switch_root(8) does and makes
 * the disk the root. Returns 0, or -1 after printing one line saying why.
 */
int vmm_switch_to_root_disk(enum vmm_root_disk access);

/* Whether / is the initramfs (ramfs or tmpfs), not a disk. */
int vmm_root_is_initramfs(void);
