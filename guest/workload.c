/*
 * guest/workload: the measuring program of scripts/compare. It is static, so
 * the same binary runs inside the microVM, inside every container runtime, on
 * the host itself and in the nested KVM host (L1), which has only busybox.
 *
 *   workload bench [--syscalls N] [--spawns N] [--cpu N] [--file-mib N] [--dir DIR]
 *       Runs the micro-benchmarks where it is started and prints one line:
 *       "workload-result syscall_ns=.. spawn_us=.. cpu_ms=.. write_mib_s=.. read_mib_s=.."
 *   workload exit
 *       Exits at once (the program that the spawn benchmark executes).
 *   workload time [--runs N] [--label L] [--memory BYTES] [--timeout S] -- CMD...
 *       Starts CMD N times and prints one "workload-time" line per run: the
 *       start-to-exit time, the time until a "boot marker" line appeared in
 *       its output and, with --memory, the peak memory of its process tree
 *       (PSS without the guest RAM mapping of BYTES bytes, that mapping's RSS
 *       and the peak usage of the tree's memory cgroup). Lines of CMD's output
 *       that start with "workload-result", "vmm: timings:" or "vmm: memory:" are passed on as
 *       "workload-child" lines.
 *   workload serve|rr|stream ...
 *       TCP request/response latency and bulk throughput (guest/workload_network.h).
 */
#define _GNU_SOURCE
#include "guest/protocol.h"
#include "guest/workload_bench.h"
#include "guest/workload_common.h"
#include "guest/workload_memory.h"
#include "guest/workload_network.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The timer. */

struct RunOptions {
    const char *label;
    long memory_bytes; /* -1: no memory sampling; 0: no guest mapping to leave out. */
    long timeout_seconds;
    int run;
};

enum { LogLines = 6 };

struct OutputState {
    char line[4096];
    size_t length;
    double marker_seconds;
    char log[LogLines][256];
    int logged;
};

static void handle_line(struct OutputState *state, const struct RunOptions *options, double start)
{
    char *line = state->line;
    line[state->length] = '\0';
    state->length = 0;
    char *carriage = strchr(line, '\r');
    if (carriage)
        *carriage = '\0';
    if (state->marker_seconds < 0 && strstr(line, "boot marker"))
        state->marker_seconds = workload_now_seconds() - start;
    char *result = strstr(line, "workload-result ");
    char *timings = strstr(line, "vmm: timings:");
    if (!timings)
        timings = strstr(line, "vmm: memory:");
    if (result || timings)
        printf("workload-child label=%s run=%d %s\n", options->label, options->run, result ? result : timings);
    char *entry = state->log[state->logged++ % LogLines];
    size_t kept = strnlen(line, sizeof(state->log[0]) - 1);
    memcpy(entry, line, kept);
    entry[kept] = '\0';
}

static int time_once(char **command, const struct RunOptions *options)
{
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0)
        workload_die("pipe2", NULL);
    double start = workload_now_seconds();
    pid_t pid = fork();
    if (pid < 0)
        workload_die("fork", NULL);
    if (pid == 0) {
        setpgid(0, 0);
        int null_fd = open("/dev/null", O_RDONLY);
        dup2(null_fd >= 0 ? null_fd : 0, 0);
        dup2(pipe_fds[1], 1);
        dup2(pipe_fds[1], 2);
        execvp(command[0], command);
        fprintf(stderr, "workload: cannot run %s: %s\n", command[0], strerror(errno));
        _exit(127);
    }
    close(pipe_fds[1]);
    setpgid(pid, pid);

    struct OutputState state = { .length = 0, .marker_seconds = -1, .logged = 0 };
    struct MemorySample peak = { 0, 0, 0 };
    int timed_out = 0;
    for (;;) {
        struct pollfd poll_fd = { .fd = pipe_fds[0], .events = POLLIN };
        int ready = poll(&poll_fd, 1, options->memory_bytes >= 0 ? 20 : 1000);
        if (ready < 0 && errno != EINTR)
            workload_die("poll", NULL);
        if (ready > 0) {
            char buffer[4096];
            ssize_t got = read(pipe_fds[0], buffer, sizeof(buffer));
            if (got <= 0)
                break;
            for (ssize_t i = 0; i < got; ++i) {
                if (buffer[i] == '\n' || state.length == sizeof(state.line) - 1)
                    handle_line(&state, options, start);
                if (buffer[i] != '\n')
                    state.line[state.length++] = buffer[i];
            }
        }
        if (options->memory_bytes >= 0)
            workload_sample_tree(pid, options->memory_bytes, &peak);
        if (workload_now_seconds() - start > (double)options->timeout_seconds) {
            kill(-pid, SIGKILL);
            timed_out = 1;
        }
    }
    if (state.length)
        handle_line(&state, options, start);
    close(pipe_fds[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) < 0)
        workload_die("waitpid", NULL);
    double total = workload_now_seconds() - start;
    int exit_status = vmm_exit_status_from_wait_status(status);
    printf("workload-time label=%s run=%d status=%d total_ms=%.3f marker_ms=%.3f", options->label, options->run,
           timed_out ? 124 : exit_status, total * 1e3, state.marker_seconds < 0 ? -1.0 : state.marker_seconds * 1e3);
    if (options->memory_bytes >= 0)
        printf(" pss_kib=%ld guest_rss_kib=%ld cgroup_kib=%ld", peak.pss_kib, peak.guest_rss_kib, peak.cgroup_kib);
    printf("\n");
    if (exit_status != 0 || timed_out) {
        int first = state.logged > LogLines ? state.logged - LogLines : 0;
        for (int i = first; i < state.logged; ++i)
            printf("workload-log label=%s run=%d %s\n", options->label, options->run, state.log[i % LogLines]);
    }
    fflush(stdout);
    return exit_status;
}

static int run_time(int argc, char **argv)
{
    long runs = 1;
    struct RunOptions options = { .label = "run", .memory_bytes = -1, .timeout_seconds = 300, .run = 0 };
    int i = 0;
    for (; i < argc && strcmp(argv[i], "--"); i += 2) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--runs"))
            runs = workload_parse_count(argv[i], value);
        else if (!strcmp(argv[i], "--memory"))
            options.memory_bytes = workload_parse_count(argv[i], value);
        else if (!strcmp(argv[i], "--timeout"))
            options.timeout_seconds = workload_parse_count(argv[i], value);
        else if (!strcmp(argv[i], "--label") && value)
            options.label = value;
        else
            workload_usage_error("unknown time option");
    }
    if (i + 1 >= argc)
        workload_usage_error("time needs -- CMD...");
    int failures = 0;
    for (options.run = 0; options.run < runs; ++options.run)
        failures += time_once(argv + i + 1, &options) != 0;
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    static char self_path[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
    if (length > 0)
        self_path[length] = '\0';
    else
        snprintf(self_path, sizeof(self_path), "%s", argv[0]);
    if (argc < 2)
        workload_usage_error("no mode given");
    if (!strcmp(argv[1], "exit"))
        return 0;
    if (!strcmp(argv[1], "bench"))
        return workload_run_bench(argc - 2, argv + 2, self_path);
    if (!strcmp(argv[1], "time"))
        return run_time(argc - 2, argv + 2);
    if (!strcmp(argv[1], "serve"))
        return run_serve(argc - 2, argv + 2);
    if (!strcmp(argv[1], "rr"))
        return run_rr(argc - 2, argv + 2);
    if (!strcmp(argv[1], "stream"))
        return run_stream(argc - 2, argv + 2);
    workload_usage_error("unknown mode");
    return 2;
}
