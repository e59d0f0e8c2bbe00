#pragma once

/* What guest/workload's modes share: failing with one line, and numbers. */

/* Prints "workload: WHAT SUBJECT: the error" and exits 1. */
void workload_die(const char *what, const char *subject);
/* Prints the message with the usage and exits 2. */
void workload_usage_error(const char *message);
/* CLOCK_MONOTONIC in seconds. */
double workload_now_seconds(void);
/* The value of a number option; exits 2 where it is not a number from
 * MINIMUM to MAXIMUM. */
long workload_parse_number(const char *option, const char *text, long minimum, long maximum);
/* The value of a count option; exits 2 where it is not a number >= 0. */
long workload_parse_count(const char *option, const char *text);
