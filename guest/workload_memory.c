#define _GNU_SOURCE
#include "guest/workload_memory.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_small_file(const char *path, char *buffer, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t length = read(fd, buffer, size - 1);
    close(fd);
    if (length < 0)
        return -1;
    buffer[length] = '\0';
    return 0;
}

static pid_t parent_of(pid_t pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_small_file(path, text, sizeof(text)) != 0)
        return -1;
    /* The command name may hold spaces: the fields after it follow the last ')'. */
    char *close_paren = strrchr(text, ')');
    int parent = -1;
    if (!close_paren || sscanf(close_paren + 1, " %*c %d", &parent) != 1)
        return -1;
    return parent;
}

static void add_smaps(pid_t pid, long guest_bytes, struct MemorySample *sample)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
    FILE *file = fopen(path, "re");
    if (!file)
        return;
    int in_guest_mapping = 0;
    long value;
    while (fgets(line, sizeof(line), file)) {
        if (sscanf(line, "Size: %ld kB", &value) == 1)
            in_guest_mapping = guest_bytes > 0 && value * 1024 == guest_bytes;
        else if (sscanf(line, "Rss: %ld kB", &value) == 1 && in_guest_mapping)
            sample->guest_rss_kib += value;
        else if (sscanf(line, "Pss: %ld kB", &value) == 1 && !in_guest_mapping)
            sample->pss_kib += value;
    }
    fclose(file);
}

static void cgroup_path_of(pid_t pid, char *out, size_t size)
{
    char path[64], text[4096];
    out[0] = '\0';
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    if (read_small_file(path, text, sizeof(text)) != 0)
        return;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *v1 = strstr(line, ":memory:");
        if (v1) {
            snprintf(out, size, "memory%s/memory.usage_in_bytes", v1 + strlen(":memory:"));
            return;
        }
        if (!strncmp(line, "0::", 3))
            snprintf(out, size, "%s/memory.current", line + 3);
    }
}

static long cgroup_usage_kib(pid_t pid)
{
    char own[PATH_MAX], theirs[PATH_MAX], path[PATH_MAX + 32], text[64];
    cgroup_path_of(getpid(), own, sizeof(own));
    cgroup_path_of(pid, theirs, sizeof(theirs));
    /* Only a cgroup of the subject's own counts, not the one we share nor the
     * root (where an exiting process appears). */
    if (!theirs[0] || !strcmp(own, theirs) || strstr(theirs, "memory//") || !strncmp(theirs, "memory/memory.", 14)
        || !strcmp(theirs, "/memory.current"))
        return 0;
    snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", theirs);
    if (read_small_file(path, text, sizeof(text)) != 0)
        return 0;
    return atol(text) / 1024;
}

void workload_sample_tree(pid_t root, long guest_bytes, struct MemorySample *peak)
{
    enum { MaximumTree = 256 };
    pid_t tree[MaximumTree];
    int count = 0;
    tree[count++] = root;
    /* Descendants appear after their parents in one pass often, not always: repeat until stable. */
    for (int changed = 1; changed;) {
        changed = 0;
        DIR *proc = opendir("/proc");
        if (!proc)
            return;
        struct dirent *entry;
        while ((entry = readdir(proc)) && count < MaximumTree) {
            pid_t pid = (pid_t)atoi(entry->d_name);
            if (pid <= 0)
                continue;
            int known = 0;
            for (int i = 0; i < count && !known; ++i)
                known = tree[i] == pid;
            if (known)
                continue;
            pid_t parent = parent_of(pid);
            for (int i = 0; i < count; ++i) {
                if (tree[i] == parent) {
                    tree[count++] = pid;
                    changed = 1;
                    break;
                }
            }
        }
        closedir(proc);
    }
    struct MemorySample sample = { 0, 0, 0 };
    for (int i = 0; i < count; ++i) {
        add_smaps(tree[i], guest_bytes, &sample);
        long usage = cgroup_usage_kib(tree[i]);
        if (usage > sample.cgroup_kib)
            sample.cgroup_kib = usage;
    }
    if (sample.pss_kib > peak->pss_kib)
        peak->pss_kib = sample.pss_kib;
    if (sample.guest_rss_kib > peak->guest_rss_kib)
        peak->guest_rss_kib = sample.guest_rss_kib;
    if (sample.cgroup_kib > peak->cgroup_kib)
        peak->cgroup_kib = sample.cgroup_kib;
}
