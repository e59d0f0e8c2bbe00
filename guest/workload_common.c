#define _GNU_SOURCE
#include "guest/workload_common.h"

#include <errno.h>
#include <limits.h>
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

long workload_parse_number(const char *option, const char *text, long minimum, long maximum)
{
    char *end = NULL;
    errno = 0;
    long value = text ? strtol(text, &end, 10) : -1;
    if (!text || errno != 0 || *end != '\0' || value < minimum || value > maximum) {
        if (maximum == LONG_MAX)
            fprintf(stderr, "workload: %s needs a number of at least %ld, not '%s'\n", option, minimum, text ? text : "");
        else
            fprintf(stderr, "workload: %s needs a number from %ld to %ld, not '%s'\n", option, minimum, maximum, text ? text : "");
        exit(2);
    }
    return value;
}

long workload_parse_count(const char *option, const char *text)
{
    return workload_parse_number(option, text, 0, LONG_MAX);
}
