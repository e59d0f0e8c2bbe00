/*
 * container-probe: a static helper the container tests run inside the
 * container (build-rootfs installs it as /usr/bin/container-probe).
 *
 *   container-probe syscall NAME   make the system call NAME with harmless
 *                                  arguments; print the result; exit with
 *                                  its errno (0 when it succeeded)
 *   container-probe allocate MIB   touch MIB mebibytes of memory; exit 0
 *   container-probe fork-bomb      fork until fork fails; print the count;
 *                                  exit 0 if it failed with EAGAIN
 *   container-probe fds            print the open fds above 2; exit with
 *                                  their number
 *   container-probe mknod-open PATH c|b MAJOR MINOR
 *                                  make the device node and open it
 *                                  read-write; exit with the first errno
 *   container-probe tiocsti TEXT   push TEXT into the input of the terminal
 *                                  on fd 0; exit with the errno
 *   container-probe session        print "sid=S pgid=G" as this PID
 *                                  namespace sees them (0: outside it)
 *   container-probe ptrace-init    try PTRACE_ATTACH to PID 1; exit with
 *                                  the errno
 *   container-probe setcap PATH    give PATH the file capability
 *                                  CAP_DAC_READ_SEARCH; exit with the errno
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Far beyond any system call number x86_64 has. */
#define UNKNOWN_SYSCALL_NUMBER 1999

static long make_syscall(const char *name)
{
    if (strcmp(name, "unknown") == 0)
        return syscall(UNKNOWN_SYSCALL_NUMBER, 0, 0, 0);
    if (strcmp(name, "keyctl") == 0)
        return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    if (strcmp(name, "add_key") == 0)
        return syscall(SYS_add_key, "user", "vmm-probe", "x", 1, KEY_SPEC_SESSION_KEYRING);
    if (strcmp(name, "init_module") == 0)
        return syscall(SYS_init_module, NULL, 0, "");
    if (strcmp(name, "finit_module") == 0)
        return syscall(SYS_finit_module, 0, "", 0);
    if (strcmp(name, "delete_module") == 0)
        return syscall(SYS_delete_module, "vmm_probe", 0);
    if (strcmp(name, "kexec_load") == 0)
        return syscall(SYS_kexec_load, 0, 0, NULL, 0);
    if (strcmp(name, "bpf") == 0)
        return syscall(SYS_bpf, 0, NULL, 0);
    if (strcmp(name, "mount") == 0)
        return syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, NULL);
    if (strcmp(name, "umount2") == 0)
        return syscall(SYS_umount2, "/proc", MNT_DETACH);
    if (strcmp(name, "unshare") == 0)
        return syscall(SYS_unshare, CLONE_NEWUSER);
    if (strcmp(name, "clone-newns") == 0) {
        long pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0)
            _exit(0);
        return pid;
    }
    if (strcmp(name, "userfaultfd") == 0)
        return syscall(SYS_userfaultfd, 0);
    if (strcmp(name, "perf_event_open") == 0)
        return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
    if (strcmp(name, "reboot") == 0)
        return syscall(SYS_reboot, 0, 0, 0, NULL);
    if (strcmp(name, "getpid") == 0)
        return syscall(SYS_getpid);
    if (strcmp(name, "int80-getpid") == 0) {
        /* getpid (20) through the 32-bit entry: a foreign architecture to
         * the filter, which must kill the process rather than judge it by
         * the x86_64 numbers. */
        long result = 20;
        __asm__ volatile("int $0x80" : "+a"(result) : : "memory");
        return result;
    }
    fprintf(stderr, "container-probe: unknown system call name %s\n", name);
    exit(255);
}

static int probe_syscall(const char *name)
{
    errno = 0;
    long result = make_syscall(name);
    int error = result < 0 ? errno : 0;
    printf("%s: %ld errno %d (%s)\n", name, result, error, error ? strerror(error) : "success");
    return error;
}

static int allocate(const char *mebibytes_text)
{
    long mebibytes = atol(mebibytes_text);
    for (long index = 0; index < mebibytes; ++index) {
        char *chunk = malloc(1 << 20);
        if (!chunk) {
            printf("allocate: malloc failed after %ld MiB\n", index);
            return 1;
        }
        memset(chunk, 0x5a, 1 << 20);
    }
    printf("allocate: touched %ld MiB\n", mebibytes);
    return 0;
}

static int fork_bomb(void)
{
    const int most = 100000;
    for (int count = 0; count < most; ++count) {
        pid_t pid = fork();
        if (pid == 0) {
            pause();
            _exit(0);
        }
        if (pid < 0) {
            int error = errno;
            /* The children go when init exits: the kernel kills the rest
             * of the PID namespace. */
            printf("fork-bomb: fork failed after %d processes: %s\n", count, strerror(error));
            return error == EAGAIN ? 0 : 1;
        }
    }
    printf("fork-bomb: %d processes and no limit\n", most);
    return 1;
}

static int list_fds(void)
{
    DIR *directory = opendir("/proc/self/fd");
    if (!directory) {
        perror("opendir /proc/self/fd");
        return 255;
    }
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(directory))) {
        int fd = atoi(entry->d_name);
        if (entry->d_name[0] == '.' || fd <= 2 || fd == dirfd(directory))
            continue;
        char target[256] = "";
        char link[64];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t length = readlink(link, target, sizeof(target) - 1);
        if (length > 0)
            target[length] = '\0';
        printf("fd %d -> %s\n", fd, target);
        ++count;
    }
    closedir(directory);
    return count;
}

static int report(const char *what, int result)
{
    int error = result < 0 ? errno : 0;
    printf("%s: errno %d (%s)\n", what, error, error ? strerror(error) : "success");
    return error;
}

static int mknod_open(const char *path, const char *type, const char *major, const char *minor)
{
    mode_t kind = strcmp(type, "b") == 0 ? S_IFBLK : S_IFCHR;
    int error = report("mknod", mknod(path, kind | 0600, makedev(atoi(major), atoi(minor))));
    if (error && error != EEXIST)
        return error;
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    error = report("open", fd);
    if (fd >= 0)
        close(fd);
    return error;
}

static int push_input(const char *text)
{
    for (const char *character = text; *character; ++character) {
        if (ioctl(0, TIOCSTI, character) < 0)
            return report("tiocsti", -1);
    }
    return report("tiocsti", 0);
}

static int attach_to_init(void)
{
    int error = report("ptrace", (int)ptrace(PTRACE_ATTACH, 1, NULL, NULL));
    if (!error) {
        waitpid(1, NULL, __WALL);
        ptrace(PTRACE_DETACH, 1, NULL, NULL);
    }
    return error;
}

static int set_file_capability(const char *path)
{
    struct vfs_cap_data capability = { 0 };
    capability.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
    capability.data[0].permitted = 1u << CAP_DAC_READ_SEARCH;
    return report("setcap", setxattr(path, "security.capability", &capability, XATTR_CAPS_SZ_2, 0));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "syscall") == 0)
        return probe_syscall(argv[2]);
    if (argc == 3 && strcmp(argv[1], "allocate") == 0)
        return allocate(argv[2]);
    if (argc == 2 && strcmp(argv[1], "fork-bomb") == 0)
        return fork_bomb();
    if (argc == 2 && strcmp(argv[1], "fds") == 0)
        return list_fds();
    if (argc == 6 && strcmp(argv[1], "mknod-open") == 0)
        return mknod_open(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 3 && strcmp(argv[1], "tiocsti") == 0)
        return push_input(argv[2]);
    if (argc == 2 && strcmp(argv[1], "session") == 0) {
        printf("sid=%d pgid=%d\n", getsid(0), getpgid(0));
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "ptrace-init") == 0)
        return attach_to_init();
    if (argc == 3 && strcmp(argv[1], "setcap") == 0)
        return set_file_capability(argv[2]);
    fprintf(stderr, "usage: container-probe syscall NAME | allocate MIB | fork-bomb | fds | mknod-open PATH c|b MAJOR MINOR"
                    " | tiocsti TEXT | session | ptrace-init | setcap PATH\n");
    return 255;
}
