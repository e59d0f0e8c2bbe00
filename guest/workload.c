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
#include "guest/workload_network.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char self_path[PATH_MAX];

static void die(const char *what, const char *subject)
{
    fprintf(stderr, "workload: %s%s%s: %s\n", what, subject ? " " : "", subject ? subject : "", strerror(errno));
    exit(1);
}

static void usage_error(const char *message)
{
    fprintf(stderr, "workload: %s (usage: workload bench|exit|time|serve|rr|stream [OPTIONS] [-- CMD...])\n", message);
    exit(2);
}

static double now_seconds(void)
{
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (double)time.tv_sec + (double)time.tv_nsec / 1e9;
}

static long parse_count(const char *option, const char *text)
{
    char *end = NULL;
    errno = 0;
    long value = text ? strtol(text, &end, 10) : -1;
    if (!text || errno != 0 || *end != '\0' || value < 0) {
        fprintf(stderr, "workload: %s needs a non-negative number, not '%s'\n", option, text ? text : "");
        exit(2);
    }
    return value;
}

/* The benchmarks. */

static double bench_syscalls(long count)
{
    double start = now_seconds();
    for (long i = 0; i < count; ++i)
        syscall(SYS_getpid);
    return count ? (now_seconds() - start) / (double)count * 1e9 : 0;
}

static double bench_spawns(long count)
{
    double start = now_seconds();
    for (long i = 0; i < count; ++i) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork", NULL);
        if (pid == 0) {
            char *arguments[] = { self_path, "exit", NULL };
            execv(self_path, arguments);
            _exit(127);
        }
        int status = 0;
        if (waitpid(pid, &status, 0) < 0)
            die("waitpid", NULL);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "workload: spawning %s failed (status %d)\n", self_path, status);
            exit(1);
        }
    }
    return count ? (now_seconds() - start) / (double)count * 1e6 : 0;
}

static double bench_cpu(long iterations)
{
    /* A xorshift chain: each step depends on the last, so it cannot be folded. */
    volatile uint64_t sink;
    uint64_t state = 88172645463325252ull;
    double start = now_seconds();
    for (long i = 0; i < iterations; ++i) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
    }
    sink = state;
    (void)sink;
    return (now_seconds() - start) * 1e3;
}

static void bench_file(long mebibytes, const char *directory, double *write_rate, double *read_rate)
{
    *write_rate = *read_rate = 0;
    if (mebibytes == 0)
        return;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/workload-%d.tmp", directory, (int)getpid());
    static char block[1 << 20];
    memset(block, 0x5a, sizeof(block));

    double start = now_seconds();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        die("open", path);
    for (long i = 0; i < mebibytes; ++i) {
        if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
            die("write", path);
    }
    if (fsync(fd) != 0)
        die("fsync", path);
    *write_rate = (double)mebibytes / (now_seconds() - start);
    /* Drop the now clean pages so that the read goes to the disk. */
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);

    start = now_seconds();
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open", path);
    ssize_t got;
    while ((got = read(fd, block, sizeof(block))) > 0) {
    }
    if (got < 0)
        die("read", path);
    *read_rate = (double)mebibytes / (now_seconds() - start);
    close(fd);
    unlink(path);
}

static int run_bench(int argc, char **argv)
{
    long syscalls = 1000000, spawns = 200, cpu = 200000000, file_mib = 32;
    const char *directory = "/var/tmp";
    for (int i = 0; i < argc; ++i) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--syscalls"))
            syscalls = parse_count(argv[i], value);
        else if (!strcmp(argv[i], "--spawns"))
            spawns = parse_count(argv[i], value);
        else if (!strcmp(argv[i], "--cpu"))
            cpu = parse_count(argv[i], value);
        else if (!strcmp(argv[i], "--file-mib"))
            file_mib = parse_count(argv[i], value);
        else if (!strcmp(argv[i], "--dir") && value)
            directory = value;
        else
            usage_error("unknown bench option");
        ++i;
    }
    double syscall_ns = bench_syscalls(syscalls);
    double spawn_us = bench_spawns(spawns);
    double cpu_ms = bench_cpu(cpu);
    double write_rate, read_rate;
    bench_file(file_mib, directory, &write_rate, &read_rate);
    printf("workload-result syscall_ns=%.1f spawn_us=%.1f cpu_ms=%.2f write_mib_s=%.1f read_mib_s=%.1f\n",
           syscall_ns, spawn_us, cpu_ms, write_rate, read_rate);
    fflush(stdout);
    return 0;
}

/* Memory of a process tree, read from /proc. */

struct MemorySample {
    long pss_kib;
    long guest_rss_kib;
    long cgroup_kib;
};

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

static void sample_tree(pid_t root, long guest_bytes, struct MemorySample *peak)
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
        state->marker_seconds = now_seconds() - start;
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
        die("pipe2", NULL);
    double start = now_seconds();
    pid_t pid = fork();
    if (pid < 0)
        die("fork", NULL);
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
            die("poll", NULL);
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
            sample_tree(pid, options->memory_bytes, &peak);
        if (now_seconds() - start > (double)options->timeout_seconds) {
            kill(-pid, SIGKILL);
            timed_out = 1;
        }
    }
    if (state.length)
        handle_line(&state, options, start);
    close(pipe_fds[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) < 0)
        die("waitpid", NULL);
    double total = now_seconds() - start;
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
            runs = parse_count(argv[i], value);
        else if (!strcmp(argv[i], "--memory"))
            options.memory_bytes = parse_count(argv[i], value);
        else if (!strcmp(argv[i], "--timeout"))
            options.timeout_seconds = parse_count(argv[i], value);
        else if (!strcmp(argv[i], "--label") && value)
            options.label = value;
        else
            usage_error("unknown time option");
    }
    if (i + 1 >= argc)
        usage_error("time needs -- CMD...");
    int failures = 0;
    for (options.run = 0; options.run < runs; ++options.run)
        failures += time_once(argv + i + 1, &options) != 0;
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    ssize_t length = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
    if (length > 0)
        self_path[length] = '\0';
    else
        snprintf(self_path, sizeof(self_path), "%s", argv[0]);
    if (argc < 2)
        usage_error("no mode given");
    if (!strcmp(argv[1], "exit"))
        return 0;
    if (!strcmp(argv[1], "bench"))
        return run_bench(argc - 2, argv + 2);
    if (!strcmp(argv[1], "time"))
        return run_time(argc - 2, argv + 2);
    if (!strcmp(argv[1], "serve"))
        return run_serve(argc - 2, argv + 2);
    if (!strcmp(argv[1], "rr"))
        return run_rr(argc - 2, argv + 2);
    if (!strcmp(argv[1], "stream"))
        return run_stream(argc - 2, argv + 2);
    usage_error("unknown mode");
    return 2;
}
