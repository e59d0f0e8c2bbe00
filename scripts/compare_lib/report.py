"""Assembles report.json from the subjects and what their runs printed."""

import datetime
import re
import statistics

from .metrics import METRICS
from .parse import failure_reason, figures_from, timings_boot_marker_ms
from .schema import SCHEMA


def subject_entry(subject, runs_by_label):
    entry = {"id": subject.id, "name": subject.name, "kind": subject.kind, "host": subject.host,
             "command": subject.command, "status": "measured", "reason": None, "figures": {},
             "notes": list(subject.notes)}
    if subject.reason:
        entry.update(status="unavailable", reason=subject.reason)
        return entry
    true_runs = runs_by_label.get(f"{subject.id}-true")
    bench_runs = runs_by_label.get(f"{subject.id}-bench")
    true_failure = failure_reason(true_runs, "start-to-exit of true")
    bench_failure = failure_reason(bench_runs, "workload bench")
    figures = figures_from(None if true_failure else true_runs, None if bench_failure else bench_runs)
    if not figures:
        entry.update(status="failed", reason=true_failure or bench_failure or "no figures were reported")
        return entry
    entry["figures"] = figures
    for what, failure in (("`true`", true_failure), ("the workload", bench_failure)):
        if failure:
            entry["notes"].append(f"{what} failed: {failure}")
    timings = (true_runs.timings if true_runs else []) + (bench_runs.timings if bench_runs else [])
    markers = timings_boot_marker_ms(timings)
    if markers:
        entry["notes"].append(f"vmm --timings: boot marker at {statistics.median(markers):.1f} ms after vmm "
                              f"started (median of {len(markers)})")
    overheads = [float(match.group(1)) for line in timings
                 for match in [re.search(r"vmm overhead ([0-9.]+) MiB", line)] if match]
    if overheads:
        entry["notes"].append(f"vmm's own account (--timings): {statistics.median(overheads):.2f} MiB beyond "
                              "guest pages at exit")
    return entry


def build_report(plan, hosts, subjects, runs_by_label, notes):
    return {
        "schema": SCHEMA,
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": plan.mode,
        "plan": {"local": {"true_rounds": plan.true_rounds, "bench_rounds": plan.bench_rounds, "bench": plan.bench},
                 "nested": {"true_rounds": plan.nested_true_rounds, "bench_rounds": plan.nested_bench_rounds,
                            "bench": plan.nested_bench}},
        "hosts": hosts,
        "metrics": METRICS,
        "subjects": [subject_entry(subject, runs_by_label) for subject in subjects],
        "notes": notes,
    }
