"""The metrics of the comparison: names, labels, units and which way is better."""

import statistics

# Order matters: the report's columns and plots follow it.
METRICS = {
    "true_ms": {"label": "start-to-exit of `true`", "short": "true", "unit": "ms", "better": "lower"},
    "boot_marker_ms": {"label": "time to init's boot marker", "short": "boot marker", "unit": "ms", "better": "lower"},
    "memory_overhead_mib": {
        "label": "host memory of the runtime (PSS of its processes, guest RAM excluded)",
        "short": "memory overhead", "unit": "MiB", "better": "lower"},
    "guest_ram_mib": {"label": "guest RAM resident on the host", "short": "guest RAM", "unit": "MiB", "better": "lower"},
    "cgroup_memory_mib": {"label": "container cgroup memory (peak during the workload, page cache of its file writes included)", "short": "cgroup memory", "unit": "MiB", "better": "lower"},
    "syscall_ns": {"label": "system call latency (getpid loop)", "short": "getpid", "unit": "ns", "better": "lower"},
    "spawn_us": {"label": "process spawn (fork + exec + wait)", "short": "fork+exec", "unit": "µs", "better": "lower"},
    "cpu_ms": {"label": "CPU-bound loop", "short": "CPU loop", "unit": "ms", "better": "lower"},
    "write_mib_s": {"label": "sequential write + fsync on the rootfs disk", "short": "write+fsync", "unit": "MiB/s", "better": "higher"},
    "read_mib_s": {"label": "sequential read on the rootfs disk (cache dropped)", "short": "read", "unit": "MiB/s", "better": "higher"},
}

SUBJECT_KINDS = ("baseline", "vm", "container")


def summarize(samples):
    """Figures of one metric: median, min, max and the samples themselves."""
    values = [float(value) for value in samples]
    if not values:
        raise ValueError("no samples")
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "samples": values,
    }


def format_value(value):
    """A figure with about three significant digits, for tables and plot labels."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def ratios_to_baseline(report):
    """{host: {subject id: {metric: cost factor}}}, drawn only between
    subjects measured on the same host in the same run. The cost factor is
    subject / baseline where lower is better and baseline / subject where
    higher is better (MiB/s), so above 1 always means "costs more than the
    host itself"."""
    baselines = {}
    for subject in report["subjects"]:
        if subject["kind"] == "baseline" and subject["status"] == "measured":
            baselines[subject["host"]] = subject
    result = {}
    for subject in report["subjects"]:
        baseline = baselines.get(subject["host"])
        if baseline is None or subject is baseline or subject["status"] != "measured":
            continue
        row = {}
        for metric, figure in subject["figures"].items():
            reference = baseline["figures"].get(metric)
            if not reference or reference["median"] <= 0 or figure["median"] <= 0:
                continue
            ratio = figure["median"] / reference["median"]
            row[metric] = ratio if report["metrics"][metric]["better"] == "lower" else 1 / ratio
        if row:
            result.setdefault(subject["host"], {})[subject["id"]] = row
    return result
