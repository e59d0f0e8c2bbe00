#pragma once

/*
 * workload bench [--syscalls N] [--spawns N] [--cpu N] [--file-mib N] [--dir DIR]:
 * the micro-benchmarks, where the program is started; prints one
 * "workload-result" line. The spawn benchmark executes `self_path exit`.
 */
int workload_run_bench(int argc, char **argv, const char *self_path);
