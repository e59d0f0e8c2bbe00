"""The metrics of the comparison: names, labels, units and which way is better."""

import random
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


def spread(figure):
    """The range most runs of a figure fall in: the 10th to 90th percentile
    of its samples, or min to max when there are fewer than ten."""
    samples = sorted(figure.get("samples") or [figure["min"], figure["max"]])
    if len(samples) < 10:
        return samples[0], samples[-1]
    deciles = statistics.quantiles(samples, n=10)
    return deciles[0], deciles[-1]


def within_noise(report):
    """{(host, subject id, metric)} whose ratio to the baseline is within
    noise: the subject's spread and the baseline's overlap, so the runs do
    not tell the two apart and the ratio is no measured difference."""
    baselines = {subject["host"]: subject for subject in report["subjects"]
                 if subject["kind"] == "baseline" and subject["status"] == "measured"}
    result = set()
    for host, by_subject in ratios_to_baseline(report).items():
        baseline = baselines[host]
        for subject_id, row in by_subject.items():
            subject = next(entry for entry in report["subjects"] if entry["id"] == subject_id)
            for metric in row:
                low, high = spread(subject["figures"][metric])
                reference_low, reference_high = spread(baseline["figures"][metric])
                if low <= reference_high and reference_low <= high:
                    result.add((host, subject_id, metric))
    return result


def paired_ratio_interval(subject, reference, resamples=2000, seed=16):
    """The 95% interval of median(subject) / median(reference), from the
    runs' rounds drawn again with replacement `resamples` times (a
    bootstrap). The two samples of a round stay together: they were taken
    under the same conditions, one right after the other."""
    if len(subject) != len(reference) or not subject:
        raise ValueError(f"paired samples need the same number of rounds, at least one: {len(subject)} and {len(reference)}")
    generator = random.Random(seed)
    rounds = range(len(subject))
    ratios = []
    for _ in range(resamples):
        picked = generator.choices(rounds, k=len(subject))
        ratios.append(statistics.median(subject[index] for index in picked)
                      / statistics.median(reference[index] for index in picked))
    ratios.sort()
    return ratios[int(0.025 * resamples)], ratios[int(0.975 * resamples) - 1]


def goal_verdict(ratio, interval, goal):
    """Whether a ratio whose goal is at most `goal` meets it: "met" or
    "MISSED" by the median, "within noise" added where the 95% interval
    reaches across the goal, so that the runs cannot tell the two sides
    apart."""
    verdict = "met" if ratio <= goal else "MISSED"
    low, high = interval
    if low <= goal < high:
        verdict += ", within noise"
    return verdict


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
