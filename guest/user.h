/*
 * The user a command runs as (vmm's -u USER[:GROUP], docker's rules), looked
 * up in the root filesystem's own passwd and group files. Shared by
 * guest/init, which switches to it in the VM and the container alike, and
 * vmm's tests. Plain file parsing (fgetpwent, fgetgrent): no name service,
 * so that glibc and musl read the same files the same way.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The most supplementary groups a command gets (the kernel's NGROUPS_MAX is
 * larger, but no tree lists a user in this many). */
#define VMM_MAX_SUPPLEMENTARY_GROUPS 64

struct vmm_command_user {
    uid_t uid;
    gid_t gid;
    gid_t groups[VMM_MAX_SUPPLEMENTARY_GROUPS]; /* setgroups(): gid first, then the groups listing the user. */
    size_t group_count;
    char home[256]; /* The passwd entry's home; "/" without one. */
};

/*
 * Resolves "USER[:GROUP]". USER is a name in `passwd_path` or a number (one
 * without an entry gets gid 0 and home "/"); GROUP, a name in `group_path`
 * or a number, replaces the entry's group. The supplementary groups are that
 * group and the groups of `group_path` that list the user's name. Returns 0, or -1 with a
 * message (naming the user or group and the file) in `error`.
 */
int vmm_resolve_user(const char *specification, const char *passwd_path, const char *group_path, struct vmm_command_user *user,
    char *error, size_t error_size);

#ifdef __cplusplus
}
#endif
