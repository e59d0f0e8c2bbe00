#define _GNU_SOURCE
#include "guest/workload_bench.h"

#include "guest/workload_common.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static double bench_syscalls(long count)
{
    double start = workload_now_seconds();
    for (long i = 0; i < count; ++i)
        syscall(SYS_getpid);
    return count ? (workload_now_seconds() - start) / (double)count * 1e9 : 0;
}

static double bench_spawns(long count, const char *self_path)
{
    double start = workload_now_seconds();
    for (long i = 0; i < count; ++i) {
        pid_t pid = fork();
        if (pid < 0)
            workload_die("fork", NULL);
        if (pid == 0) {
            char *arguments[] = { (char *)self_path, "exit", NULL };
            execv(self_path, arguments);
            _exit(127);
        }
        int status = 0;
        if (waitpid(pid, &status, 0) < 0)
            workload_die("waitpid", NULL);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "workload: spawning %s failed (status %d)\n", self_path, status);
            exit(1);
        }
    }
    return count ? (workload_now_seconds() - start) / (double)count * 1e6 : 0;
}

static double bench_cpu(long iterations)
{
    /* A xorshift chain: each step depends on the last, so it cannot be folded. */
    volatile uint64_t sink;
    uint64_t state = 88172645463325252ull;
    double start = workload_now_seconds();
    for (long i = 0; i < iterations; ++i) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
    }
    sink = state;
    (void)sink;
    return (workload_now_seconds() - start) * 1e3;
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

    double start = workload_now_seconds();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        workload_die("open", path);
    for (long i = 0; i < mebibytes; ++i) {
        if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
            workload_die("write", path);
    }
    if (fsync(fd) != 0)
        workload_die("fsync", path);
    *write_rate = (double)mebibytes / (workload_now_seconds() - start);
    /* Drop the now clean pages so that the read goes to the disk. */
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);

    start = workload_now_seconds();
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        workload_die("open", path);
    ssize_t got;
    while ((got = read(fd, block, sizeof(block))) > 0) {
    }
    if (got < 0)
        workload_die("read", path);
    *read_rate = (double)mebibytes / (workload_now_seconds() - start);
    close(fd);
    unlink(path);
}

int workload_run_bench(int argc, char **argv, const char *self_path)
{
    long syscalls = 1000000, spawns = 200, cpu = 200000000, file_mib = 32;
    const char *directory = "/var/tmp";
    for (int i = 0; i < argc; ++i) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--syscalls"))
            syscalls = workload_parse_count(argv[i], value);
        else if (!strcmp(argv[i], "--spawns"))
            spawns = workload_parse_count(argv[i], value);
        else if (!strcmp(argv[i], "--cpu"))
            cpu = workload_parse_count(argv[i], value);
        else if (!strcmp(argv[i], "--file-mib"))
            file_mib = workload_parse_count(argv[i], value);
        else if (!strcmp(argv[i], "--dir") && value)
            directory = value;
        else
            workload_usage_error("unknown bench option");
        ++i;
    }
    double syscall_ns = bench_syscalls(syscalls);
    double spawn_us = bench_spawns(spawns, self_path);
    double cpu_ms = bench_cpu(cpu);
    double write_rate, read_rate;
    bench_file(file_mib, directory, &write_rate, &read_rate);
    printf("workload-result syscall_ns=%.1f spawn_us=%.1f cpu_ms=%.2f write_mib_s=%.1f read_mib_s=%.1f\n",
           syscall_ns, spawn_us, cpu_ms, write_rate, read_rate);
    fflush(stdout);
    return 0;
}
