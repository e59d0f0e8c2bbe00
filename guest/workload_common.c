#define _GNU_SOURCE
#include "guest/workload_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void workload_die(const char *what, const char *subject)
{
    fprintf(stderr, "workload: %s%s%s: %s\n", what, subject ? " " : "", subject ? subject : "", strerror(errno));
    exit(1);
}

void workload_usage_error(const char *message)
{
    fprintf(stderr, "workload: %s (usage: workload bench|exit|time|serve|rr|stream [OPTIONS] [-- CMD...])\n", message);
    exit(2);
}

double workload_now_seconds(void)
{
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (double)time.tv_sec + (double)time.tv_nsec / 1e9;
}

long workload_parse_count(const char *option, const char *text)
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
