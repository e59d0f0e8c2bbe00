/* See guest/user.h. */
#define _GNU_SOURCE
#include "guest/user.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens a passwd or group file of the tree: a regular file only (a fifo
 * there would hang init's open or read). NULL when absent or not regular. */
static FILE *open_account_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat status;
    FILE *file = fstat(fd, &status) == 0 && S_ISREG(status.st_mode) ? fdopen(fd, "r") : NULL;
    if (!file)
        close(fd);
    return file;
}

/* A whole decimal number up to 2^32 - 2 ((uid_t)-1 means "no change"). */
static int parse_id(const char *text, unsigned int *id)
{
    if (*text < '0' || *text > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || value >= 0xffffffffULL)
        return -1;
    *id = (unsigned int)value;
    return 0;
}

/* The passwd entry whose name is `name`, or whose uid is `uid` when `name`
 * is NULL; copied into `user` (and the name into `found_name`). */
static int find_passwd_entry(const char *path, const char *name, uid_t uid, struct vmm_command_user *user, char *found_name, size_t found_name_size)
{
    FILE *file = open_account_file(path);
    if (!file)
        return -1;
    int found = -1;
    struct passwd *entry;
    while ((entry = fgetpwent(file)) != NULL) {
        if (name ? strcmp(entry->pw_name, name) == 0 : entry->pw_uid == uid) {
            user->uid = entry->pw_uid;
            user->gid = entry->pw_gid;
            snprintf(user->home, sizeof(user->home), "%s", entry->pw_dir && *entry->pw_dir ? entry->pw_dir : "/");
            snprintf(found_name, found_name_size, "%s", entry->pw_name);
            found = 0;
            break;
        }
    }
    fclose(file);
    return found;
}

static int find_group_by_name(const char *path, const char *name, gid_t *gid)
{
    FILE *file = open_account_file(path);
    if (!file)
        return -1;
    int found = -1;
    struct group *entry;
    while ((entry = fgetgrent(file)) != NULL) {
        if (strcmp(entry->gr_name, name) == 0) {
            *gid = entry->gr_gid;
            found = 0;
            break;
        }
    }
    fclose(file);
    return found;
}

/* Adds `gid` to the user's groups unless it is there already. */
static void add_group(struct vmm_command_user *user, gid_t gid)
{
    for (size_t index = 0; index < user->group_count; ++index) {
        if (user->groups[index] == gid)
            return;
    }
    if (user->group_count < VMM_MAX_SUPPLEMENTARY_GROUPS)
        user->groups[user->group_count++] = gid;
}

/* The groups that list `name` as a member (none when the file is absent). */
static void add_member_groups(const char *path, const char *name, struct vmm_command_user *user)
{
    FILE *file = open_account_file(path);
    if (!file)
        return;
    struct group *entry;
    while ((entry = fgetgrent(file)) != NULL) {
        for (char **member = entry->gr_mem; member && *member; ++member) {
            if (strcmp(*member, name) == 0) {
                add_group(user, entry->gr_gid);
                break;
            }
        }
    }
    fclose(file);
}

int vmm_resolve_user(const char *specification, const char *passwd_path, const char *group_path, struct vmm_command_user *user,
    char *error, size_t error_size)
{
    memset(user, 0, sizeof(*user));
    strcpy(user->home, "/");
    char text[256];
    if (snprintf(text, sizeof(text), "%s", specification) >= (int)sizeof(text)) {
        snprintf(error, error_size, "--user '%s': too long", specification);
        return -1;
    }
    char *group = strchr(text, ':');
    if (group)
        *group++ = '\0';
    if (text[0] == '\0' || (group && group[0] == '\0')) {
        snprintf(error, error_size, "--user '%s': not USER[:GROUP]", specification);
        return -1;
    }

    char name[256] = "";
    unsigned int id = 0;
    if (parse_id(text, &id) == 0) {
        /* A number need not have an entry; one that has gets its group and home. */
        if (find_passwd_entry(passwd_path, NULL, id, user, name, sizeof(name)) != 0) {
            user->uid = id;
            user->gid = 0;
        }
    } else if (find_passwd_entry(passwd_path, text, 0, user, name, sizeof(name)) != 0) {
        snprintf(error, error_size, "--user '%s': no user '%s' in the root filesystem's %s", specification, text, passwd_path);
        return -1;
    }
    if (group) {
        unsigned int group_id = 0;
        if (parse_id(group, &group_id) == 0) {
            user->gid = group_id;
        } else if (find_group_by_name(group_path, group, &user->gid) != 0) {
            snprintf(error, error_size, "--user '%s': no group '%s' in the root filesystem's %s", specification, group, group_path);
            return -1;
        }
    }
    /* The primary group first, then the memberships, as initgroups(3)
     * and docker give them: `id` lists it whatever /etc/group says. */
    add_group(user, user->gid);
    if (name[0] != '\0')
        add_member_groups(group_path, name, user);
    return 0;
}
