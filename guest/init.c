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
#include "guest/command.h"
#include "guest/console.h"
#include "guest/diagnostics.h"
#include "guest/network.h"
#include "guest/protocol.h"
#include "guest/switch_root.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
#include <sys/wait.h>
#include <unistd.h>

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
        vmm_init_warn_errno("mount", target);
}

/* In the VM, the machine setup the container runtime does for the container:
 * the hostname (vmm boot --hostname, else /etc/hostname's) and the loopback
 * interface up. */
static void setup_vm_identity(const char *hostname)
{
    char name[65] = { 0 };
    ssize_t length = 0;
    if (hostname) {
        length = (ssize_t)strlen(hostname);
        if (length >= (ssize_t)sizeof(name))
            length = 0;
        else
            memcpy(name, hostname, (size_t)length);
    } else {
        int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            length = read(fd, name, sizeof(name) - 1);
            close(fd);
        }
    }
    while (length > 0 && (name[length - 1] == '\n' || name[length - 1] == ' '))
        name[--length] = '\0';
    if (length > 0 && sethostname(name, (size_t)length) != 0)
        vmm_init_warn_errno("sethostname", name);
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return;
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    strcpy(request.ifr_name, "lo");
    if (ioctl(sock, SIOCGIFFLAGS, &request) == 0) {
        request.ifr_flags |= IFF_UP;
        if (ioctl(sock, SIOCSIFFLAGS, &request) != 0)
            vmm_init_warn_errno("SIOCSIFFLAGS", "lo");
    }
    close(sock);
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
        vmm_init_warn_errno("ioperm", "exit-status port");
        return;
    }
    outb(value, port);
#else
    /* No I/O ports: the same byte goes to vmm's report page, outside RAM,
     * through /dev/mem (CONFIG_DEVMEM); the store exits to vmm as MMIO. */
    int fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
    if (fd < 0) {
        vmm_init_warn_errno("open", "/dev/mem");
        return;
    }
    volatile unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, VMM_REPORT_MMIO_ADDRESS);
    close(fd);
    if (page == MAP_FAILED) {
        vmm_init_warn_errno("mmap", "/dev/mem (vmm's report page)");
        return;
    }
    page[port - VMM_EXIT_STATUS_PORT] = value;
    munmap((void *)page, 4096);
#endif
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
    vmm_drain_console(STDOUT_FILENO);
    vmm_drain_console(STDERR_FILENO);
    report_to_vmm(VMM_EXIT_STATUS_PORT, (unsigned char)exit_status);
    /* The VMM stops at the exit-status port; the reset is the fallback that
     * ends the VM (through the i8042, or PSCI on arm64) if the port could
     * not be written. */
    reboot(RB_AUTOBOOT);
    for (;;)
        pause();
}

/* The command's user, working directory and environment variables: the
 * same in the VM (vmm.user=, vmm.workdir=, vmm.env=) and in the container
 * (--user=, --workdir=, --env=). */
struct command_settings {
    const char *user;
    const char *workdir;
    char *environment[VMM_MAX_ENVIRONMENT + 1];
    int environment_count;
};

/* Sets the environment variables over init's defaults, resolves the user in
 * the tree's own passwd and group files (its home becomes HOME unless a
 * variable set that) and enters the working directory. Returns 0, or after
 * saying why, the status to end with. */
static int apply_command_settings(const struct command_settings *settings, struct vmm_command_user *user)
{
    int home_given = 0;
    for (int index = 0; index < settings->environment_count; ++index) {
        char *variable = settings->environment[index];
        if (variable[0] == '=' || strchr(variable, '=') == NULL || putenv(variable) != 0) {
            fprintf(stderr, "vmm-init: --env '%s': not KEY=VALUE\n", variable);
            return VMM_INIT_FAILURE_STATUS;
        }
        home_given |= strncmp(variable, "HOME=", 5) == 0;
    }
    if (settings->user) {
        char error[512];
        if (vmm_resolve_user(settings->user, "/etc/passwd", "/etc/group", user, error, sizeof(error)) != 0) {
            fprintf(stderr, "vmm-init: %s\n", error);
            return VMM_INIT_FAILURE_STATUS;
        }
        if (!home_given)
            setenv("HOME", user->home, 1);
    }
    if (settings->workdir && chdir(settings->workdir) != 0) {
        fprintf(stderr, "vmm-init: --workdir %s: %s\n", settings->workdir, strerror(errno));
        return VMM_INIT_FAILURE_STATUS;
    }
    return 0;
}

/* A container init option of the form OPTION=VALUE: its value, or NULL. */
static const char *option_value(const char *argument, const char *option)
{
    size_t length = strlen(option);
    return strncmp(argument, option, length) == 0 ? argument + length : NULL;
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
    struct command_settings settings;
    memset(&settings, 0, sizeof(settings));
    if (command.is_vm) {
        settings.user = command.user;
        settings.workdir = command.workdir;
        memcpy(settings.environment, command.environment, sizeof(settings.environment));
        settings.environment_count = command.environment_count;
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
        setup_vm_identity(command.hostname);
        if (vmm_configure_network(&command.network) == 0)
            vmm_show_name_servers(&command.network);
    } else {
        /* Container mode: PID 1 cannot be ptraced (nor its /proc files read)
         * by the container's command, which runs as the same user. Set before
         * the command is started; init never execs, so it stays in force. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
            vmm_init_warn_errno("prctl", "PR_SET_DUMPABLE");
        /* The runtime passes the write end of a pipe for the boot marker,
         * and the command's settings. */
        for (; argc > first; ++first) {
            const char *value;
            if ((value = option_value(argv[first], VMM_MARKER_FD_OPTION)))
                marker_fd = atoi(value);
            else if ((value = option_value(argv[first], VMM_USER_OPTION)))
                settings.user = value;
            else if ((value = option_value(argv[first], VMM_WORKDIR_OPTION)))
                settings.workdir = value;
            else if ((value = option_value(argv[first], VMM_ENV_OPTION))) {
                if (settings.environment_count == VMM_MAX_ENVIRONMENT) {
                    fprintf(stderr, "vmm-init: more than %d --env variables\n", VMM_MAX_ENVIRONMENT);
                    return VMM_INIT_FAILURE_STATUS;
                }
                settings.environment[settings.environment_count++] = (char *)value;
            } else
                break;
        }
        if (argc > first && strcmp(argv[first], "--") == 0)
            ++first;
        if (argc > first)
            arguments = argv + first;
        else if (access(shell[0], X_OK) != 0 && access("/bin/bash", X_OK) == 0)
            shell[0] = "/bin/bash"; /* Without a command: the tree's shell (vmm checked that one exists). */
    }

    setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
    setenv("HOME", "/root", 0);
    setenv("TERM", "linux", 0);
    struct vmm_command_user user;
    int settings_status = apply_command_settings(&settings, &user);
    if (settings_status != 0) {
        if (command.is_vm)
            finish_vm(settings_status);
        return settings_status;
    }
    vmm_handle_signals_for_command();
    if (command.is_vm) {
        vmm_reopen_console_device();
        vmm_set_up_vm_console(&command);
        /* A shell reading the console would be interactive (prompts among
         * the output) where `printf ... | vmm --container R` and `docker run
         * -i` give it a pipe: so it gets one here too, and then neither a
         * controlling terminal nor job control, as there. */
        if (command.stdin_is_data && command.argument_count == 0)
            vmm_pipe_console_input();
    }
    int job_control = vmm_take_console(command.is_vm);

    /* The boot marker is for vmm only (its --timings), never printed: a run
     * shows exactly the command's output. The command does not inherit the
     * container's marker pipe. */
    if (command.is_vm) {
        report_to_vmm(VMM_BOOT_MARKER_PORT, 1);
    } else if (marker_fd > 2) {
        if (write(marker_fd, "1", 1) != 1)
            vmm_init_warn_errno("write", "boot marker");
        close(marker_fd);
    }

    int exit_status = vmm_run_command(arguments, job_control, settings.user ? &user : NULL);
    fflush(stdout);

    if (!command.is_vm)
        return exit_status;
    finish_vm(exit_status);
}
