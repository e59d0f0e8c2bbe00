"""Parses the lines that guest/workload prints (`workload time` and the
`workload bench` results it passes on) and the nested host's description."""

import re

from .metrics import summarize

_PAIR = re.compile(r"(\w+)=(\S+)")


def _pairs(text):
    return {key: value for key, value in _PAIR.findall(text)}


class Runs:
    """Everything printed under one label (e.g. "local-bwrap-true")."""

    def __init__(self):
        self.times = []     # {"status": int, "total_ms": float, "marker_ms": float, ...}
        self.results = []   # {"syscall_ns": float, ...}
        self.timings = []   # "vmm: timings: ..." lines
        self.logs = []      # output of failed runs


def parse_workload_output(text, runs_by_label=None):
    """Adds the workload lines in TEXT to RUNS_BY_LABEL ({label: Runs})."""
    runs_by_label = {} if runs_by_label is None else runs_by_label
    for line in text.splitlines():
        match = re.match(r"workload-(time|child|log) label=(\S+) run=\d+ ?(.*)$", line.strip())
        if not match:
            continue
        kind, label, rest = match.groups()
        runs = runs_by_label.setdefault(label, Runs())
        if kind == "time":
            values = _pairs(rest)
            runs.times.append({key: float(value) for key, value in values.items()})
        elif kind == "log":
            runs.logs.append(rest)
        elif rest.startswith("workload-result "):
            runs.results.append({key: float(value) for key, value in _pairs(rest).items()})
        elif rest.startswith("vmm: timings:"):
            runs.timings.append(rest)
    return runs_by_label


def parse_host_lines(text):
    """`compare-host KEY=VALUE...` lines (VALUE may hold spaces up to the line's end for `cpu`)."""
    host = {}
    for line in text.splitlines():
        if line.startswith("compare-host "):
            key, _, value = line[len("compare-host "):].partition("=")
            host[key.strip()] = value.strip()
    return host


def timings_boot_marker_ms(lines):
    """The boot marker figures of `vmm boot --timings` lines."""
    values = []
    for line in lines:
        match = re.search(r"boot marker ([0-9.]+) ms", line)
        if match:
            values.append(float(match.group(1)))
    return values


def failure_reason(runs, label):
    """None when every run of RUNS exited 0; else why not, in one line."""
    if runs is None or not runs.times:
        return f"{label}: no result (the run did not report)"
    failed = [entry for entry in runs.times if entry.get("status", 1) != 0]
    if not failed:
        return None
    status = int(failed[0]["status"])
    detail = "; ".join(line.strip() for line in runs.logs[-4:] if line.strip())
    what = "timed out" if status == 124 else f"exited with status {status}"
    return f"{what}" + (f": {detail}" if detail else "")


def figures_from(true_runs, bench_runs):
    """Figures of one subject from its `true` runs and its bench runs."""
    figures = {}
    if true_runs and true_runs.times:
        figures["true_ms"] = summarize([entry["total_ms"] for entry in true_runs.times])
        markers = [entry["marker_ms"] for entry in true_runs.times if entry.get("marker_ms", -1) >= 0]
        if markers:
            figures["boot_marker_ms"] = summarize(markers)
    if bench_runs:
        for metric in ("syscall_ns", "spawn_us", "cpu_ms", "write_mib_s", "read_mib_s"):
            values = [result[metric] for result in bench_runs.results if metric in result]
            if values:
                figures[metric] = summarize(values)
        memory = {"memory_overhead_mib": "pss_kib", "guest_ram_mib": "guest_rss_kib", "cgroup_memory_mib": "cgroup_kib"}
        for metric, key in memory.items():
            values = [entry[key] / 1024 for entry in bench_runs.times if entry.get(key, 0) > 0]
            if values:
                figures[metric] = summarize(values)
    return figures
