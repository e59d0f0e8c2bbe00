/*
 * guest/init: PID 1 of both the vmm microVM and the vmm container.
 *
 * In the VM (the kernel command line holds vmm.mode=vm) it mounts /proc, /sys
 * and /dev, switches from vmm's initramfs to the root disk when vmm booted
 * one (vmm.root=), takes the command from the vmm.arg= words of /proc/cmdline,
 * reports the command's exit status through VMM_EXIT_STATUS_PORT and resets
 * the machine. In the container (the runtime's first argument is
 * --container, and everything is already mounted) it takes the command from
 * its own argv and exits with its status.
 * With no command it starts the tree's shell, /bin/sh or else /bin/bash.
 */
#include "guest/network.h"
#include "guest/protocol.h"
#include "guest/switch_root.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#if defined(__x86_64__) || defined(__i386__)
#include <sys/io.h>
#endif
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* How long the drain before the exit-status report waits for a console
 * that makes no progress: long enough for a user who paused the console
 * with Ctrl-S to resume it, short enough that a stuck console still ends
 * the VM. */
#define CONSOLE_DRAIN_STALL_MS 30000
#define CONSOLE_DRAIN_POLL_MS 10

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
    /* A read-only root that lacks the mount point goes without the mount. */
    if (mkdir(target, 0755) != 0 && errno == EROFS)
        return;
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
#if defined(__x86_64__) || defined(__i386__)
    /* ioperm needs CONFIG_X86_IOPL_IOPERM; without it the outb would kill us. */
    if (ioperm(port, 1, 1) != 0) {
        warn_errno("ioperm", "exit-status port");
        return;
    }
    outb(value, port);
#else
    /* No I/O ports: the same byte goes to vmm's report page, outside RAM,
     * through /dev/mem (CONFIG_DEVMEM); the store exits to vmm as MMIO. */
    int fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
    if (fd < 0) {
        warn_errno("open", "/dev/mem");
        return;
    }
    volatile unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, VMM_REPORT_MMIO_ADDRESS);
    close(fd);
    if (page == MAP_FAILED) {
        warn_errno("mmap", "/dev/mem (vmm's report page)");
        return;
    }
    page[port - VMM_EXIT_STATUS_PORT] = value;
    munmap((void *)page, 4096);
#endif
}

/*
 * Makes the console init's controlling terminal, so that the command can run
 * as a foreground job of init's session. Returns whether it is: only then is
 * there job control to set up. In the VM init is the console's session
 * leader; nothing hangs the console up when the command exits, so its last
 * output is never thrown away. In the container the runtime deliberately
 * gives init no controlling terminal (the console may be the host's own), so
 * init never takes one there.
 */
static int take_console(int is_vm)
{
    if (!isatty(STDIN_FILENO))
        return 0;
    if (is_vm) {
        /* PID 1 starts in the kernel's session; EPERM means it leads one already. */
        if (setsid() < 0 && errno != EPERM)
            warn_errno("setsid", "(init)");
        /* Never steal (argument 0): the console is nobody else's terminal here. */
        if (ioctl(STDIN_FILENO, TIOCSCTTY, 0) != 0 && errno != EPERM)
            warn_errno("TIOCSCTTY", "console");
    }
    return tcgetsid(STDIN_FILENO) == getsid(0);
}

/*
 * In the VM, fds 0-2 are the /dev/console the kernel opened in the
 * initramfs, which no path names once init has switched to the disk (`tty`
 * would say "not a tty"). Opens the console's own device instead (ttyS0 or
 * hvc0, found with TIOCGDEV), so that the command's terminal has its name.
 */
static void reopen_console_device(void)
{
    unsigned int device = 0;
    if (ioctl(STDIN_FILENO, TIOCGDEV, &device) != 0)
        return;
    char path[96];
    snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/uevent", major(device), minor(device));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char uevent[512];
    ssize_t length = read(fd, uevent, sizeof(uevent) - 1);
    close(fd);
    if (length <= 0)
        return;
    uevent[length] = '\0';
    char *name = strstr(uevent, "DEVNAME=");
    if (!name)
        return;
    name += strlen("DEVNAME=");
    name[strcspn(name, "\n")] = '\0';
    snprintf(path, sizeof(path), "/dev/%s", name);
    fd = open(path, O_RDWR | O_NOCTTY);
    if (fd < 0) {
        warn_errno("open", path);
        return;
    }
    for (int target = STDIN_FILENO; target <= STDERR_FILENO; ++target) {
        if (fd != target)
            dup2(fd, target);
    }
    if (fd > STDERR_FILENO)
        close(fd);
}

/*
 * In the VM: the host terminal's size on the console, and the console's
 * data modes where vmm's stdin or stdout is not a terminal (see
 * guest/protocol.h): no echo and VEOF for piped input, no "\r\n" for
 * output that is not shown on a terminal.
 */
static void set_up_vm_console(const struct vmm_guest_command *command)
{
    if (!isatty(STDIN_FILENO))
        return;
    if (command->window_rows > 0 && command->window_columns > 0) {
        struct winsize size;
        memset(&size, 0, sizeof(size));
        size.ws_row = command->window_rows;
        size.ws_col = command->window_columns;
        if (ioctl(STDIN_FILENO, TIOCSWINSZ, &size) != 0)
            warn_errno("TIOCSWINSZ", "console");
    }
    if (!command->stdin_is_data && !command->stdout_is_data)
        return;
    struct termios settings;
    if (tcgetattr(STDIN_FILENO, &settings) != 0) {
        warn_errno("tcgetattr", "console");
        return;
    }
    if (command->stdin_is_data)
        vmm_console_data_input(&settings);
    if (command->stdout_is_data)
        vmm_console_data_output(&settings);
    if (tcsetattr(STDIN_FILENO, TCSANOW, &settings) != 0)
        warn_errno("tcsetattr", "console");
}

/* Waits until the console has sent what the command wrote (TIOCOUTQ is 0),
 * giving up once it made no progress for CONSOLE_DRAIN_STALL_MS. */
static void drain_console(int fd)
{
    int previous = -1;
    int stalled_ms = 0;
    while (stalled_ms < CONSOLE_DRAIN_STALL_MS) {
        int queued = 0;
        if (ioctl(fd, TIOCOUTQ, &queued) != 0 || queued == 0)
            return;
        stalled_ms = queued < previous ? 0 : stalled_ms + CONSOLE_DRAIN_POLL_MS;
        previous = queued;
        poll(NULL, 0, CONSOLE_DRAIN_POLL_MS);
    }
    fprintf(stderr, "vmm-init: the console sent nothing for %d s; %d bytes of output are lost\n",
            CONSOLE_DRAIN_STALL_MS / 1000, previous);
}

extern char **environ;

/* The signals whose handling init sets for itself (it forwards SIGINT and
 * SIGTERM, and ignores the terminal's stop signals): the command starts
 * with their defaults. */
static const int signals_init_handles[] = { SIGINT, SIGTERM, SIGTTOU, SIGTTIN, SIGTSTP };
#define SIGNALS_INIT_HANDLES_COUNT (sizeof(signals_init_handles) / sizeof(signals_init_handles[0]))

/* Says why the command could not be executed; returns the status a shell
 * gives then: 127 when it is not found, 126 when it cannot be run. */
static int report_exec_failure(const char *program, int error)
{
    fprintf(stderr, "vmm-init: execvp %s: %s\n", program, strerror(error));
    return error == ENOENT ? 127 : 126;
}

/* Starts the command with posix_spawnp: a vfork-style child that shares
 * init's memory until the exec, instead of fork's copy of init's page tables
 * and the copy-on-write faults of the child's few writes (on a container's
 * start this is on the path to the command). Without job control only,
 * since posix_spawn cannot hand the child the terminal's foreground before
 * it runs. Returns the command's PID, or -1 with the status to report. */
static pid_t spawn_command(char **arguments, const sigset_t *mask, int *failure_status)
{
    sigset_t defaults;
    sigemptyset(&defaults);
    for (size_t index = 0; index < SIGNALS_INIT_HANDLES_COUNT; ++index)
        sigaddset(&defaults, signals_init_handles[index]);
    posix_spawnattr_t attributes;
    pid_t pid = -1;
    int error = posix_spawnattr_init(&attributes);
    if (error == 0) {
        posix_spawnattr_setsigdefault(&attributes, &defaults);
        posix_spawnattr_setsigmask(&attributes, mask);
        posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
        error = posix_spawnp(&pid, arguments[0], NULL, &attributes, arguments, environ);
        posix_spawnattr_destroy(&attributes);
    }
    if (error != 0) {
        *failure_status = report_exec_failure(arguments[0], error);
        return -1;
    }
    return pid;
}

/* Starts the command with fork and execvp, in its own process group in the
 * foreground, as a shell starts a job: Ctrl-C on the console reaches the
 * command, not init. Both sides do it, so that the command never runs in
 * the background. Returns its PID, or -1 with the status to report. */
static pid_t fork_command_in_foreground(char **arguments, const sigset_t *mask, int *failure_status)
{
    pid_t pid = fork();
    if (pid < 0) {
        warn_errno("fork", arguments[0]);
        *failure_status = 127;
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        tcsetpgrp(STDIN_FILENO, getpid());
        for (size_t index = 0; index < SIGNALS_INIT_HANDLES_COUNT; ++index)
            signal(signals_init_handles[index], SIG_DFL);
        sigprocmask(SIG_SETMASK, mask, NULL);
        execvp(arguments[0], arguments);
        _exit(report_exec_failure(arguments[0], errno));
    }
    setpgid(pid, pid);
    tcsetpgrp(STDIN_FILENO, pid);
    return pid;
}

static int run_command(char **arguments, int job_control)
{
    sigset_t blocked;
    sigset_t previous;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGCHLD);
    /* A SIGTERM or SIGINT that comes before command_pid is set would be
     * lost (the command may already be printing): held until then. */
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGTERM);
    sigprocmask(SIG_BLOCK, &blocked, &previous);
    int failure_status = 127;
    command_pid = job_control ? fork_command_in_foreground(arguments, &previous, &failure_status)
                              : spawn_command(arguments, &previous, &failure_status);
    sigprocmask(SIG_SETMASK, &previous, NULL);
    if (command_pid < 0)
        return failure_status;

    /* As PID 1 we also reap every orphan until the command itself is gone. */
    int exit_status = 255;
    for (;;) {
        int wait_status = 0;
        pid_t pid = waitpid(-1, &wait_status, WUNTRACED);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            warn_errno("waitpid", arguments[0]);
            break;
        }
        if (WIFSTOPPED(wait_status)) {
            /* Ctrl-Z stopped the command itself: no shell above it could
             * ever resume it, so init does, rather than hang the VM. */
            int stop_signal = WSTOPSIG(wait_status);
            if (pid == command_pid && job_control && stop_signal != SIGSTOP)
                kill(-command_pid, SIGCONT);
            continue;
        }
        if (pid == command_pid) {
            exit_status = vmm_exit_status_from_wait_status(wait_status);
            break;
        }
    }
    /* The console back in init's hands (SIGTTOU is ignored, so this works
     * from the background): what the command left running cannot read it. */
    if (job_control)
        tcsetpgrp(STDIN_FILENO, getpgrp());
    return exit_status;
}

/* Ends the VM: reports `exit_status` to vmm once the console has sent
 * everything, then resets the machine. */
static void finish_vm(int exit_status)
{
    fflush(stdout);
    /* What the command left running goes, so that the root can be
     * remounted read-only: the disk is then clean (its journal committed)
     * and mounts again anywhere, read-only ones included. */
    kill(-1, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    sync();
    mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL);
    /* The command's last output may still sit in the console's tty buffer,
     * sent by interrupts (perhaps on another vCPU): wait until the UART has
     * taken all of it, because the VMM stops at the exit-status port. */
    drain_console(STDOUT_FILENO);
    drain_console(STDERR_FILENO);
    report_to_vmm(VMM_EXIT_STATUS_PORT, (unsigned char)exit_status);
    /* The VMM stops at the exit-status port; the reset is the fallback that
     * ends the VM (through the i8042, or PSCI on arm64) if the port could
     * not be written. */
    reboot(RB_AUTOBOOT);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    int first = 1;
    /* The runtime says when this is the container's init: the kernel command
     * line the container sees is the host's (guest/protocol.h). */
    int is_container = argc > first && strcmp(argv[first], VMM_CONTAINER_OPTION) == 0;
    if (is_container)
        ++first;
    /* Only the VM's init reads the kernel command line and mounts what is missing. */
    int may_be_vm = getpid() == 1 && !is_container;
    if (may_be_vm) {
        mount_if_missing("/proc/self", "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
        mount_if_missing("/sys/kernel", "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
        mount_if_missing("/dev/null", "devtmpfs", "/dev", "devtmpfs", MS_NOSUID);
    }

    struct vmm_guest_command command;
    memset(&command, 0, sizeof(command));
    int marker_fd = -1;
    char *cmdline = may_be_vm ? read_kernel_cmdline() : NULL;
    if (cmdline && vmm_parse_kernel_cmdline(cmdline, &command) != 0) {
        fprintf(stderr, "vmm-init: malformed vmm.arg=, vmm.root= or network setting on the kernel command line\n");
        memset(&command, 0, sizeof(command));
    }

    char *shell[] = {"/bin/sh", NULL};
    char **arguments = shell;
    if (command.is_vm) {
        /* In vmm's initramfs: the user's tree is on the root disk. */
        if (command.root_disk != VMM_ROOT_NONE && vmm_root_is_initramfs() && vmm_switch_to_root_disk(command.root_disk) != 0)
            finish_vm(VMM_INIT_FAILURE_STATUS);
        if (access(shell[0], X_OK) != 0 && access("/bin/bash", X_OK) == 0)
            shell[0] = "/bin/bash";
        if (command.argument_count > 0) {
            arguments = command.arguments;
        } else if (access(shell[0], X_OK) != 0) {
            fprintf(stderr, "vmm-init: the root filesystem has no shell to start (/bin/sh or /bin/bash): give a command after --\n");
            finish_vm(127);
        }
        mount_if_missing("/dev/pts/ptmx", "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC);
        mount_if_missing("/tmp/.vmm-tmp", "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV);
        setup_vm_identity();
        if (vmm_configure_network(&command.network) == 0)
            vmm_show_name_servers(&command.network);
    } else {
        /* Without a command: the tree's shell (vmm checked that one exists). */
        if (access(shell[0], X_OK) != 0 && access("/bin/bash", X_OK) == 0)
            shell[0] = "/bin/bash";
        /* Container mode: PID 1 cannot be ptraced (nor its /proc files read)
         * by the container's command, which runs as the same user. Set before
         * the command is started; init never execs, so it stays in force. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
            warn_errno("prctl", "PR_SET_DUMPABLE");
        /* The runtime passes the write end of a pipe for the boot marker. */
        if (argc > first && strncmp(argv[first], VMM_MARKER_FD_OPTION, strlen(VMM_MARKER_FD_OPTION)) == 0) {
            marker_fd = atoi(argv[first] + strlen(VMM_MARKER_FD_OPTION));
            ++first;
        }
        if (argc > first && strcmp(argv[first], "--") == 0)
            ++first;
        if (argc > first)
            arguments = argv + first;
    }

    setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
    setenv("HOME", "/root", 0);
    setenv("TERM", "linux", 0);
    signal(SIGINT, forward_signal);
    signal(SIGTERM, forward_signal);
    /* Init hands the console to the command and takes it back from the background. */
    signal(SIGTTOU, SIG_IGN);
    signal(SIGTTIN, SIG_IGN);
    signal(SIGTSTP, SIG_IGN);
    if (command.is_vm)
        reopen_console_device();
    int job_control = take_console(command.is_vm);
    if (command.is_vm)
        set_up_vm_console(&command);

    /* The boot marker is for vmm only (its --timings), never printed: a run
     * shows exactly the command's output. The command does not inherit the
     * container's marker pipe. */
    if (command.is_vm) {
        report_to_vmm(VMM_BOOT_MARKER_PORT, 1);
    } else if (marker_fd > 2) {
        if (write(marker_fd, "1", 1) != 1)
            warn_errno("write", "boot marker");
        close(marker_fd);
    }

    int exit_status = run_command(arguments, job_control);
    fflush(stdout);

    if (!command.is_vm)
        return exit_status;
    finish_vm(exit_status);
}
