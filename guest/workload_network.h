#pragma once

/*
 * guest/workload's network modes (Felter et al.'s netperf TCP_RR and a bulk
 * stream, in a static program that runs on the host, in containers and VMs):
 *
 *   workload serve [--port P] [--connections N]
 *       Listens on 0.0.0.0:P (default 7070), prints "workload-serving port=P"
 *       once it does, and serves N connections (default: without end), one
 *       at a time: a connection that starts with 'r' gets every byte echoed
 *       back (request/response); one that starts with 's' is read to its
 *       end and answered with the 8-byte count of what came (bulk stream).
 *   workload rr ADDRESS [--port P] [--count N] [--warmup N]
 *       N 1-byte round trips on one TCP_NODELAY connection (after warmup
 *       ones); prints "workload-result rr_median_us=.. rr_p99_us=.. rr_count=N".
 *   workload stream ADDRESS [--port P] [--mib N]
 *       Sends N MiB (default 256) in 128 KiB writes and waits for the count;
 *       prints "workload-result stream_mib_s=.. stream_mib=N".
 * ADDRESS is an IPv4 address; traffic goes only there.
 */
int run_serve(int argc, char **argv);
int run_rr(int argc, char **argv);
int run_stream(int argc, char **argv);
