/*
 * guest/init's console: the controlling terminal, the console's own device
 * and modes in the VM, and the drain before the VM ends.
 */
#define _GNU_SOURCE /* pipe2 */
#include "guest/console.h"

#include "guest/diagnostics.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

/* How long the drain before the exit-status report waits for a console
 * that makes no progress: long enough for a user who paused the console
 * with Ctrl-S to resume it, short enough that a stuck console still ends
 * the VM. */
#define CONSOLE_DRAIN_STALL_MS 30000
#define CONSOLE_DRAIN_POLL_MS 10

/*
 * Makes the console init's controlling terminal, so that the command can run
 * as a foreground job of init's session. Returns whether it is: only then is
 * there job control to set up. In the VM init is the console's session
 * leader; nothing hangs the console up when the command exits, so its last
 * output is never thrown away. In the container the runtime deliberately
 * gives init no controlling terminal (the console may be the host's own), so
 * init never takes one there.
 */
int vmm_take_console(int is_vm)
{
    if (!isatty(STDIN_FILENO))
        return 0;
    if (is_vm) {
        /* PID 1 starts in the kernel's session; EPERM means it leads one already. */
        if (setsid() < 0 && errno != EPERM)
            vmm_init_warn_errno("setsid", "(init)");
        /* Never steal (argument 0): the console is nobody else's terminal here. */
        if (ioctl(STDIN_FILENO, TIOCSCTTY, 0) != 0 && errno != EPERM)
            vmm_init_warn_errno("TIOCSCTTY", "console");
    }
    return tcgetsid(STDIN_FILENO) == getsid(0);
}

/*
 * In the VM, fds 0-2 are the /dev/console the kernel opened in the
 * initramfs, which no path names once init has switched to the disk (`tty`
 * would say "not a tty"). Opens the console's own device instead (ttyS0 or
 * hvc0, found with TIOCGDEV), so that the command's terminal has its name.
 */
void vmm_reopen_console_device(void)
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
        vmm_init_warn_errno("open", path);
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
void vmm_set_up_vm_console(const struct vmm_guest_command *command)
{
    if (!isatty(STDIN_FILENO))
        return;
    if (command->window_rows > 0 && command->window_columns > 0) {
        struct winsize size;
        memset(&size, 0, sizeof(size));
        size.ws_row = command->window_rows;
        size.ws_col = command->window_columns;
        if (ioctl(STDIN_FILENO, TIOCSWINSZ, &size) != 0)
            vmm_init_warn_errno("TIOCSWINSZ", "console");
    }
    if (!command->stdin_is_data && !command->stdout_is_data)
        return;
    struct termios settings;
    if (tcgetattr(STDIN_FILENO, &settings) != 0) {
        vmm_init_warn_errno("tcgetattr", "console");
        return;
    }
    if (command->stdin_is_data)
        vmm_console_data_input(&settings);
    if (command->stdout_is_data)
        vmm_console_data_output(&settings);
    if (tcsetattr(STDIN_FILENO, TCSANOW, &settings) != 0)
        vmm_init_warn_errno("tcsetattr", "console");
}

/* The relay's loop: the console's data (guest/protocol.h's escapes already
 * undone by its line discipline) into the pipe, until VEOF or the shell
 * closed its end. */
static void relay_console_input(int pipe_fd)
{
    char buffer[4096];
    for (;;) {
        ssize_t length = read(STDIN_FILENO, buffer, sizeof(buffer));
        if (length < 0 && errno == EINTR)
            continue;
        if (length <= 0)
            return;
        for (ssize_t written = 0; written < length;) {
            ssize_t done = write(pipe_fd, buffer + written, (size_t)(length - written));
            if (done < 0 && errno == EINTR)
                continue;
            if (done <= 0)
                return;
            written += done;
        }
    }
}

int vmm_pipe_console_input(void)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        vmm_init_warn_errno("pipe2", "(shell input)");
        return -1;
    }
    pid_t relay = fork();
    if (relay < 0) {
        vmm_init_warn_errno("fork", "(shell input)");
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (relay == 0) {
        /* Not init's blocked signals: a shell gone before the input ended
         * ends the relay with SIGPIPE; finish_vm's SIGKILL in any case. */
        sigset_t nothing;
        sigemptyset(&nothing);
        sigprocmask(SIG_SETMASK, &nothing, NULL);
        close(fds[0]);
        close(STDOUT_FILENO);
        close(STDERR_FILENO);
        relay_console_input(fds[1]);
        _exit(0);
    }
    close(fds[1]);
    /* dup2 leaves the new descriptor without close-on-exec. */
    if (dup2(fds[0], STDIN_FILENO) < 0)
        vmm_init_warn_errno("dup2", "(shell input)");
    close(fds[0]);
    return 0;
}

/* Waits until the console has sent what the command wrote (TIOCOUTQ is 0),
 * giving up once it made no progress for CONSOLE_DRAIN_STALL_MS. */
void vmm_drain_console(int fd)
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
