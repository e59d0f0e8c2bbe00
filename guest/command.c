/*
 * guest/init's command: started as a foreground job or spawned, signals
 * forwarded to it, and every orphan reaped until it ends.
 */
#include "guest/command.h"

#include "guest/diagnostics.h"
#include "guest/protocol.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t command_pid;

extern char **environ;

/* The signals init passes on to the command: every one a program can catch
 * (vmm passes on every signal it can catch: container/SignalProxy.h), a
 * daemon's SIGUSR1 and SIGUSR2 (reopen the logs, ...), SIGALRM and the
 * real-time ones included. As PID 1, init would otherwise drop them (a PID
 * namespace's init ignores a signal it has no handler for), and a hang-up of
 * vmm's terminal would not reach the container's shell. Not init's own:
 * SIGCHLD, the faults, SIGPIPE, SIGWINCH (the terminal tells the foreground
 * job itself), glibc's internal signals, and the terminal's stop signals,
 * which init ignores: it hands the console to the command and takes it back
 * from the background, and a command stopped by one could not be resumed by
 * any shell above it. The command starts with every one at its default. */
static int is_forwarded(int signal_number)
{
    switch (signal_number) {
    case SIGKILL:
    case SIGSTOP:
    case SIGCHLD:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGSYS:
    case SIGABRT:
    case SIGPIPE:
    case SIGWINCH:
    case SIGTTOU:
    case SIGTTIN:
    case SIGTSTP:
        return 0;
    default:
        return signal_number < 32 || signal_number >= SIGRTMIN;
    }
}

/* Init installs no handler: it keeps the forwarded signals (and SIGCHLD)
 * blocked and takes them in vmm_run_command's loop with sigwaitinfo. A
 * blocked signal is never discarded, also not by a PID namespace's init,
 * which ignores one it has no handler for; and with no handler the
 * command's child needs no system call per signal to reset them before its
 * exec, only the three ignored ones, which an exec would keep ignored. */
static void add_waited_signals(sigset_t *set)
{
    sigaddset(set, SIGCHLD);
    for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
        if (is_forwarded(signal_number))
            sigaddset(set, signal_number);
    }
}

static void reset_terminal_stops(void)
{
    signal(SIGTTOU, SIG_DFL);
    signal(SIGTTIN, SIG_DFL);
    signal(SIGTSTP, SIG_DFL);
}

void vmm_handle_signals_for_command(void)
{
    /* In a container, vmm started init with the forwarded ones blocked
     * already, so that those sent while it was set up wait here too. */
    sigset_t waited;
    sigemptyset(&waited);
    add_waited_signals(&waited);
    sigprocmask(SIG_BLOCK, &waited, NULL);
    signal(SIGTTOU, SIG_IGN);
    signal(SIGTTIN, SIG_IGN);
    signal(SIGTSTP, SIG_IGN);
}

/* Says why the command could not be executed; returns the status a shell
 * gives then: 127 when it is not found, 126 when it cannot be run. */
static int report_exec_failure(const char *program, int error)
{
    fprintf(stderr, "vmm-init: execvp %s: %s\n", program, strerror(error));
    return error == ENOENT ? 127 : 126;
}

/* In the command's child: its groups, then its group, then its user (after
 * which it could change neither). Changing the user from root clears the
 * capabilities, as a non-root exec would. */
static void become_user(const struct vmm_command_user *user, const char *program)
{
    if (!user)
        return;
    if (setgroups(user->group_count, user->groups) != 0 || setgid(user->gid) != 0 || setuid(user->uid) != 0) {
        vmm_init_warn_errno("switching to the command's user for", program);
        _exit(VMM_INIT_FAILURE_STATUS);
    }
}

/* Starts the command with vfork: a child that shares init's memory until
 * the exec, instead of fork's copy of init's page tables and the
 * copy-on-write faults of the child's few writes (on a container's start
 * this is on the path to the command). Without job control only: the child
 * must not change init's view of the terminal. Returns the command's PID,
 * or -1 with the status to report. */
static pid_t spawn_command(char **arguments, const sigset_t *mask, int *failure_status)
{
    static volatile int exec_error;
    exec_error = 0;
    pid_t pid = vfork();
    if (pid == 0) {
        reset_terminal_stops();
        sigprocmask(SIG_SETMASK, mask, NULL);
        execvp(arguments[0], arguments);
        exec_error = errno;
        _exit(127);
    }
    if (pid < 0) {
        vmm_init_warn_errno("vfork", arguments[0]);
        *failure_status = 127;
        return -1;
    }
    if (exec_error != 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        *failure_status = report_exec_failure(arguments[0], exec_error);
        return -1;
    }
    return pid;
}

/* Starts the command with fork and execvp, as `user` where that is not NULL.
 * With `job_control`, in its own process group in the foreground, as a shell
 * starts a job: Ctrl-C on the console reaches the command, not init. Both
 * sides do it, so that the command never runs in the background. Returns its
 * PID, or -1 with the status to report. */
static pid_t fork_command(char **arguments, const sigset_t *mask, int job_control, const struct vmm_command_user *user, int *failure_status)
{
    pid_t pid = fork();
    if (pid < 0) {
        vmm_init_warn_errno("fork", arguments[0]);
        *failure_status = 127;
        return -1;
    }
    if (pid == 0) {
        if (job_control) {
            setpgid(0, 0);
            tcsetpgrp(STDIN_FILENO, getpid());
        }
        reset_terminal_stops();
        sigprocmask(SIG_SETMASK, mask, NULL);
        become_user(user, arguments[0]);
        execvp(arguments[0], arguments);
        _exit(report_exec_failure(arguments[0], errno));
    }
    if (job_control) {
        setpgid(pid, pid);
        tcsetpgrp(STDIN_FILENO, pid);
    }
    return pid;
}

int vmm_run_command(char **arguments, int job_control, const struct vmm_command_user *user)
{
    sigset_t waited;
    sigemptyset(&waited);
    add_waited_signals(&waited);
    /* The command starts with nothing blocked, whatever init was given. */
    sigset_t unblocked;
    sigemptyset(&unblocked);
    int failure_status = 127;
    /* Another user, or the terminal's foreground, takes the fork. */
    command_pid = job_control || user ? fork_command(arguments, &unblocked, job_control, user, &failure_status)
                                      : spawn_command(arguments, &unblocked, &failure_status);
    if (command_pid < 0)
        return failure_status;

    /* Each signal for the command goes on to it; as PID 1 init also reaps
     * every orphan until the command itself is gone. */
    int exit_status = -1;
    while (exit_status < 0) {
        siginfo_t info;
        int signal_number = sigwaitinfo(&waited, &info);
        if (signal_number < 0) {
            if (errno == EINTR)
                continue;
            vmm_init_warn_errno("sigwaitinfo", arguments[0]);
            exit_status = 255;
            break;
        }
        if (signal_number != SIGCHLD) {
            kill(command_pid, signal_number);
            continue;
        }
        /* One SIGCHLD may stand for several children. */
        for (;;) {
            int wait_status = 0;
            pid_t pid = waitpid(-1, &wait_status, WNOHANG | WUNTRACED);
            if (pid < 0 && errno == EINTR)
                continue;
            if (pid <= 0)
                break;
            if (WIFSTOPPED(wait_status)) {
                /* Ctrl-Z stopped the command itself: no shell above it could
                 * ever resume it, so init does, rather than hang the VM. */
                int stop_signal = WSTOPSIG(wait_status);
                if (pid == command_pid && job_control && stop_signal != SIGSTOP)
                    kill(-command_pid, SIGCONT);
                continue;
            }
            if (pid == command_pid)
                exit_status = vmm_exit_status_from_wait_status(wait_status);
        }
    }
    /* The console back in init's hands (SIGTTOU is ignored, so this works
     * from the background): what the command left running cannot read it. */
    if (job_control)
        tcsetpgrp(STDIN_FILENO, getpgrp());
    return exit_status;
}
