/* guest/workload's network modes: see workload_network.h. */
#define _GNU_SOURCE
#include "guest/workload_network.h"
#include "guest/workload_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    DefaultPort = 7070,
    StreamChunk = 128 * 1024,
};

static uint64_t now_nanoseconds(void)
{
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (uint64_t)time.tv_sec * 1000000000u + (uint64_t)time.tv_nsec;
}

static int read_fully(int fd, void *buffer, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t got = read(fd, (char *)buffer + done, size - done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        done += (size_t)got;
    }
    return 0;
}

static int write_fully(int fd, const void *buffer, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t put = write(fd, (const char *)buffer + done, size - done);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return -1;
        done += (size_t)put;
    }
    return 0;
}

static void set_no_delay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        workload_die("setsockopt TCP_NODELAY", NULL);
}

static void serve_connection(int connection)
{
    char mode;
    if (read_fully(connection, &mode, 1) < 0)
        return;
    if (mode == 'r') {
        set_no_delay(connection);
        char byte;
        while (read(connection, &byte, 1) == 1) {
            if (write(connection, &byte, 1) != 1)
                return;
        }
    } else if (mode == 's') {
        static char buffer[StreamChunk];
        uint64_t total = 0;
        ssize_t got;
        while ((got = read(connection, buffer, sizeof(buffer))) > 0 || (got < 0 && errno == EINTR))
            total += got > 0 ? (uint64_t)got : 0;
        write_fully(connection, &total, sizeof(total));
    }
}

int run_serve(int argc, char **argv)
{
    long port = DefaultPort;
    long connections = -1;
    for (int i = 0; i < argc; i += 2) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--port"))
            port = workload_parse_number("--port", value, 1, 65535);
        else if (!strcmp(argv[i], "--connections"))
            connections = workload_parse_number("--connections", value, 1, 1000000);
        else
            workload_usage_error("unknown serve option");
    }
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0)
        workload_die("socket", NULL);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_ANY) };
    if (bind(listener, (struct sockaddr *)&address, sizeof(address)) < 0)
        workload_die("bind", NULL);
    if (listen(listener, 16) < 0)
        workload_die("listen", NULL);
    printf("workload-serving port=%ld\n", port);
    fflush(stdout);
    for (long served = 0; connections < 0 || served < connections; ++served) {
        int connection = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (connection < 0) {
            if (errno == EINTR)
                continue;
            workload_die("accept", NULL);
        }
        serve_connection(connection);
        close(connection);
    }
    close(listener);
    return 0;
}

/* Connects to ADDRESS:port and sends the mode byte. */
static int connect_to(const char *text, long port, char mode)
{
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, text, &address.sin_addr) != 1)
        workload_usage_error("the address must be an IPv4 address");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        workload_die("socket", NULL);
    /* The server may still be starting (a container, a VM): retry for 10 s. */
    for (int attempt = 0;; ++attempt) {
        if (connect(fd, (struct sockaddr *)&address, sizeof(address)) == 0)
            break;
        if ((errno != ECONNREFUSED && errno != EINTR) || attempt == 200)
            workload_die("connect", NULL);
        usleep(50000);
    }
    if (mode == 'r')
        set_no_delay(fd);
    if (write_fully(fd, &mode, 1) < 0)
        workload_die("write", NULL);
    return fd;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void parse_client_options(int argc, char **argv, long *port, long *count, long *warmup, long *mebibytes)
{
    for (int i = 1; i < argc; i += 2) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--port"))
            *port = workload_parse_number("--port", value, 1, 65535);
        else if (!strcmp(argv[i], "--count") && count)
            *count = workload_parse_number("--count", value, 1, 10000000);
        else if (!strcmp(argv[i], "--warmup") && warmup)
            *warmup = workload_parse_number("--warmup", value, 0, 10000000);
        else if (!strcmp(argv[i], "--mib") && mebibytes)
            *mebibytes = workload_parse_number("--mib", value, 1, 1 << 20);
        else
            workload_usage_error("unknown client option");
    }
}

int run_rr(int argc, char **argv)
{
    if (argc < 1)
        workload_usage_error("rr needs an ADDRESS");
    long port = DefaultPort, count = 10000, warmup = 1000;
    parse_client_options(argc, argv, &port, &count, &warmup, NULL);
    int fd = connect_to(argv[0], port, 'r');
    uint64_t *samples = calloc((size_t)count, sizeof(uint64_t));
    if (!samples)
        workload_die("calloc", NULL);
    char byte = 'x';
    for (long i = 0; i < warmup + count; ++i) {
        uint64_t start = now_nanoseconds();
        if (write_fully(fd, &byte, 1) < 0 || read_fully(fd, &byte, 1) < 0)
            workload_die("round trip", NULL);
        if (i >= warmup)
            samples[i - warmup] = now_nanoseconds() - start;
    }
    close(fd);
    qsort(samples, (size_t)count, sizeof(uint64_t), compare_u64);
    double median = (double)samples[count / 2] / 1e3;
    double p99 = (double)samples[(size_t)((double)count * 0.99) < (size_t)count ? (size_t)((double)count * 0.99) : (size_t)count - 1] / 1e3;
    printf("workload-result rr_median_us=%.2f rr_p99_us=%.2f rr_count=%ld\n", median, p99, count);
    free(samples);
    return 0;
}

int run_stream(int argc, char **argv)
{
    if (argc < 1)
        workload_usage_error("stream needs an ADDRESS");
    long port = DefaultPort, mebibytes = 256;
    parse_client_options(argc, argv, &port, NULL, NULL, &mebibytes);
    static char buffer[StreamChunk];
    memset(buffer, 'v', sizeof(buffer));
    int fd = connect_to(argv[0], port, 's');
    uint64_t total = (uint64_t)mebibytes << 20;
    uint64_t start = now_nanoseconds();
    for (uint64_t sent = 0; sent < total; sent += sizeof(buffer)) {
        if (write_fully(fd, buffer, sizeof(buffer)) < 0)
            workload_die("write", NULL);
    }
    shutdown(fd, SHUT_WR);
    uint64_t received = 0;
    if (read_fully(fd, &received, sizeof(received)) < 0)
        workload_die("read the count", NULL);
    double seconds = (double)(now_nanoseconds() - start) / 1e9;
    close(fd);
    if (received != total) {
        fprintf(stderr, "workload: the server counted %llu bytes of %llu\n", (unsigned long long)received, (unsigned long long)total);
        return 1;
    }
    printf("workload-result stream_mib_s=%.1f stream_mib=%ld\n", (double)mebibytes / seconds, mebibytes);
    return 0;
}
