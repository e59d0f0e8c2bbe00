"""The shape of report.json, checked without third-party libraries.

report = {
  "schema": "vmm-compare/1", "generated": ISO time, "mode": "quick"|"full",
  "hosts": {HOST_ID: {"name": str, "kernel": str, "cpu": str,
                      "cpu_virtualization": "vmx"|"svm"|"none", "kvm": str,
                      "nested_in_emulator": bool, "cgroup": str, "notes": [str]}},
  "metrics": {METRIC: {"label", "short", "unit", "better"}},
  "subjects": [{"id": str, "name": str, "kind": "baseline"|"vm"|"container",
                "host": HOST_ID, "command": str, "status": "measured"|"unavailable"|"failed",
                "reason": str|None, "figures": {METRIC: {"median", "min", "max", "samples"}},
                "notes": [str]}],
}
A subject is "measured" with at least one figure, or it has a reason.
Optional: "network" (TCP request/response and bulk rows, network.py).
"""

from . import network
from .metrics import SUBJECT_KINDS

SCHEMA = "vmm-compare/1"
STATUSES = ("measured", "unavailable", "failed")


def validate(report):
    """Returns a list of problems (empty when the report is well-formed)."""
    problems = []

    def expect(condition, message):
        if not condition:
            problems.append(message)
        return condition

    if not expect(isinstance(report, dict), "the report is not a JSON object"):
        return problems
    expect(report.get("schema") == SCHEMA, f"schema is {report.get('schema')!r}, not {SCHEMA!r}")
    expect(report.get("mode") in ("quick", "full"), f"mode is {report.get('mode')!r}")
    expect(isinstance(report.get("generated"), str), "generated is missing")
    hosts = report.get("hosts")
    metrics = report.get("metrics")
    subjects = report.get("subjects")
    if not expect(isinstance(hosts, dict) and hosts, "hosts is missing or empty"):
        hosts = {}
    if not expect(isinstance(metrics, dict) and metrics, "metrics is missing or empty"):
        metrics = {}
    if not expect(isinstance(subjects, list) and subjects, "subjects is missing or empty"):
        subjects = []
    for host_id, host in hosts.items():
        for key in ("name", "kernel", "cpu_virtualization", "kvm", "cgroup"):
            expect(isinstance(host.get(key), str), f"host {host_id}: {key} is missing")
        expect(isinstance(host.get("nested_in_emulator"), bool), f"host {host_id}: nested_in_emulator is not a boolean")
    for metric_id, metric in metrics.items():
        for key in ("label", "short", "unit", "better"):
            expect(isinstance(metric.get(key), str), f"metric {metric_id}: {key} is missing")
    seen = set()
    for index, subject in enumerate(subjects):
        name = subject.get("id", f"#{index}")
        expect(isinstance(subject.get("id"), str), f"subject {name}: id is missing")
        expect(name not in seen, f"subject {name}: duplicate id")
        seen.add(name)
        expect(isinstance(subject.get("name"), str), f"subject {name}: name is missing")
        expect(subject.get("kind") in SUBJECT_KINDS, f"subject {name}: kind {subject.get('kind')!r}")
        expect(subject.get("host") in hosts, f"subject {name}: host {subject.get('host')!r} is not in hosts")
        expect(subject.get("status") in STATUSES, f"subject {name}: status {subject.get('status')!r}")
        figures = subject.get("figures")
        if not expect(isinstance(figures, dict), f"subject {name}: figures is not an object"):
            continue
        reason = subject.get("reason")
        if subject.get("status") == "measured":
            expect(figures, f"subject {name}: measured but has no figures")
        else:
            expect(isinstance(reason, str) and reason.strip(), f"subject {name}: {subject.get('status')} without a reason")
        for metric_id, figure in figures.items():
            where = f"subject {name}, {metric_id}"
            expect(metric_id in metrics, f"{where}: unknown metric")
            if not expect(isinstance(figure, dict), f"{where}: not an object"):
                continue
            values = [figure.get(key) for key in ("median", "min", "max")]
            if expect(all(isinstance(value, (int, float)) for value in values), f"{where}: median/min/max missing"):
                expect(values[1] <= values[0] <= values[2], f"{where}: not min <= median <= max")
            expect(isinstance(figure.get("samples"), list) and figure["samples"], f"{where}: no samples")
    if "network" in report:
        network.validate(report["network"], hosts, expect)
    return problems
