/*
 * guest/init: PID 1 of both the vmm microVM and the vmm container.
 *
 * In the VM (the kernel command line holds vmm.mode=vm) it mounts /proc, /sys
 * and /dev, takes the command from the vmm.arg= words of /proc/cmdline,
 * reports the command's exit status through VMM_EXIT_STATUS_PORT and resets
 * the machine. In the container (everything is already mounted by the
 * runtime) it takes the command from its own argv and exits with its status.
 * With no command it starts an interactive busybox shell.
 */
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static pid_t command_pid;

static void warn_errno(const char *what, const char *path)
{
    fprintf(stderr, "vmm-init: %s %s: %s\n", what, path, strerror(errno));
}

static void mount_if_missing(const char *probe, const char *source, const char *target, const char *type,
                             unsigned long flags)
{
    struct stat status;
    if (stat(probe, &status) == 0)
        return;
    mkdir(target, 0755);
    if (mount(source, target, type, flags, NULL) != 0)
        warn_errno("mount", target);
}

/* In the VM, the machine setup the container runtime does for the container:
 * the hostname from /etc/hostname and the loopback interface up. */
static void setup_vm_identity(void)
{
    char name[65] = { 0 };
    int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t length = read(fd, name, sizeof(name) - 1);
        close(fd);
        while (length > 0 && (name[length - 1] == '\n' || name[length - 1] == ' '))
            name[--length] = '\0';
        if (length > 0 && sethostname(name, (size_t)length) != 0)
            warn_errno("sethostname", name);
    }
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return;
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    strcpy(request.ifr_name, "lo");
    if (ioctl(sock, SIOCGIFFLAGS, &request) == 0) {
        request.ifr_flags |= IFF_UP;
        if (ioctl(sock, SIOCSIFFLAGS, &request) != 0)
            warn_errno("SIOCSIFFLAGS", "lo");
    }
    close(sock);
}

static void forward_signal(int signal_number)
{
    if (command_pid > 0)
        kill(command_pid, signal_number);
}

static char *read_kernel_cmdline(void)
{
    static char buffer[4096];
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t length = read(fd, buffer, sizeof(buffer) - 1);
    close(fd);
    if (length < 0)
        return NULL;
    buffer[length] = '\0';
    return buffer;
}

static void report_to_vmm(unsigned short port, unsigned char value)
{
    /* ioperm needs CONFIG_X86_IOPL_IOPERM; without it the outb would kill us. */
    if (ioperm(port, 1, 1) != 0) {
        warn_errno("ioperm", "exit-status port");
        return;
    }
    outb(value, port);
}

static int run_command(char **arguments)
{
    sigset_t blocked;
    sigset_t previous;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGCHLD);
    sigprocmask(SIG_BLOCK, &blocked, &previous);

    command_pid = fork();
    if (command_pid < 0) {
        warn_errno("fork", arguments[0]);
        return 127;
    }
    if (command_pid == 0) {
        sigprocmask(SIG_SETMASK, &previous, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        /* A session of its own with the console as controlling terminal gives
         * an interactive shell job control; a failure only costs that. */
        setsid();
        ioctl(STDIN_FILENO, TIOCSCTTY, 0);
        execvp(arguments[0], arguments);
        fprintf(stderr, "vmm-init: execvp %s: %s\n", arguments[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    sigprocmask(SIG_SETMASK, &previous, NULL);

    /* As PID 1 we also reap every orphan until the command itself is gone. */
    for (;;) {
        int wait_status = 0;
        pid_t pid = waitpid(-1, &wait_status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            warn_errno("waitpid", arguments[0]);
            return 255;
        }
        if (pid == command_pid)
            return vmm_exit_status_from_wait_status(wait_status);
    }
}

int main(int argc, char **argv)
{
    int is_pid_one = getpid() == 1;
    if (is_pid_one) {
        mount_if_missing("/proc/self", "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
        mount_if_missing("/sys/kernel", "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
        mount_if_missing("/dev/null", "devtmpfs", "/dev", "devtmpfs", MS_NOSUID);
    }

    struct vmm_guest_command command;
    memset(&command, 0, sizeof(command));
    char *cmdline = is_pid_one ? read_kernel_cmdline() : NULL;
    if (cmdline && vmm_parse_kernel_cmdline(cmdline, &command) != 0) {
        fprintf(stderr, "vmm-init: malformed vmm.arg= on the kernel command line\n");
        memset(&command, 0, sizeof(command));
    }

    char *shell[] = {"/bin/sh", NULL};
    char **arguments = shell;
    if (command.is_vm) {
        if (command.argument_count > 0)
            arguments = command.arguments;
        mount_if_missing("/dev/pts/ptmx", "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC);
        mount_if_missing("/tmp/.vmm-tmp", "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV);
        setup_vm_identity();
    } else {
        int first = 1;
        if (argc > 1 && strcmp(argv[1], "--") == 0)
            first = 2;
        if (argc > first)
            arguments = argv + first;
    }

    setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
    setenv("HOME", "/root", 0);
    setenv("TERM", "linux", 0);
    signal(SIGINT, forward_signal);
    signal(SIGTERM, forward_signal);

    fprintf(stderr, "%s (%s)\n", VMM_BOOT_MARKER_LINE, command.is_vm ? "vm" : "container");
    if (command.is_vm)
        report_to_vmm(VMM_BOOT_MARKER_PORT, 1);

    int exit_status = run_command(arguments);
    fflush(stdout);

    if (!command.is_vm)
        return exit_status;

    sync();
    /* The command's last output may still sit in the console's tty buffer,
     * sent by interrupts (perhaps on another vCPU): wait until the UART has
     * taken all of it, because the VMM stops at the exit-status port. */
    tcdrain(STDOUT_FILENO);
    tcdrain(STDERR_FILENO);
    report_to_vmm(VMM_EXIT_STATUS_PORT, (unsigned char)exit_status);
    /* The VMM stops at the exit-status port; the reset is the fallback that
     * ends the VM (through the i8042) if the port could not be written. */
    reboot(RB_AUTOBOOT);
    for (;;)
        pause();
}
