"""report.md: the table a person reads first, then ratios, hosts and reasons."""

from . import network
from .mdtable import table as _table
from .metrics import format_value, ratios_to_baseline, within_noise


def _cell(figure):
    if figure is None:
        return "–"
    text = format_value(figure["median"])
    if len(figure["samples"]) > 1:
        text += f" ({format_value(figure['min'])}–{format_value(figure['max'])})"
    return text


def _used_metrics(report):
    return [metric for metric in report["metrics"]
            if any(metric in subject["figures"] for subject in report["subjects"])]


def render(report):
    hosts = report["hosts"]
    metrics = report["metrics"]
    used = _used_metrics(report)
    lines = [
        "# vmm: microVM vs container vs host",
        "",
        f"Generated {report['generated']} by `scripts/compare` ({report['mode']} mode). "
        "Cells: median (min–max) over the runs; `–`: not measured for that subject. "
        "Ratios are drawn only between rows measured on the same host in the same run.",
        "",
        "## Results",
        "",
    ]
    header = ["subject", "host"] + [f"{metrics[metric]['short']} ({metrics[metric]['unit']})" for metric in used]
    rows = []
    for subject in report["subjects"]:
        if subject["status"] == "measured":
            cells = [_cell(subject["figures"].get(metric)) for metric in used]
        else:
            cells = [f"{subject['status']}: see below"] + ["" for _ in used[1:]]
        rows.append([subject["name"], subject["host"]] + cells)
    lines += _table(header, rows)

    ratios = ratios_to_baseline(report)
    noisy = within_noise(report)
    lines += ["", "## Ratios to the host baseline (same host, same run)", ""]
    if not ratios:
        lines.append("No host has both a measured baseline and another measured subject.")
    for host_id, by_subject in ratios.items():
        lines += [f"On **{host_id}** ({hosts[host_id]['name']}): cost relative to the same workload run "
                  "directly on that host; above 1 means slower, bigger or less throughput (for MiB/s the "
                  "factor is baseline / subject). *within noise*: the subject's runs and the baseline's "
                  "overlap (10th–90th percentile, or min–max under ten runs), so the ratio shows no measured "
                  "difference.", ""]
        ratio_metrics = [metric for metric in used if any(metric in row for row in by_subject.values())]
        header = ["subject"] + [metrics[metric]["short"] for metric in ratio_metrics]
        names = {subject["id"]: subject["name"] for subject in report["subjects"]}
        def ratio_cell(subject_id, row, metric):
            if metric not in row:
                return "–"
            noise = " (within noise)" if (host_id, subject_id, metric) in noisy else ""
            return f"{row[metric]:.2f}×{noise}"

        rows = [[names[subject_id]] + [ratio_cell(subject_id, row, metric) for metric in ratio_metrics]
                for subject_id, row in by_subject.items()]
        lines += _table(header, rows) + [""]

    if "network" in report:
        lines += network.markdown(report["network"])

    missing = [subject for subject in report["subjects"] if subject["status"] != "measured"]
    lines += ["", "## Not measured", ""]
    if not missing:
        lines.append("Every subject was measured.")
    for subject in missing:
        lines.append(f"- **{subject['name']}** on {subject['host']} ({subject['status']}): {subject['reason']}")

    lines += ["", "## Hosts", ""]
    header = ["host", "what", "kernel", "CPU", "CPU virtualization", "/dev/kvm", "nested in an emulator", "cgroups"]
    rows = [[host_id, host["name"], host["kernel"], host.get("cpu", "?"), host["cpu_virtualization"], host["kvm"],
             "yes" if host["nested_in_emulator"] else "no", host["cgroup"]] for host_id, host in hosts.items()]
    lines += _table(header, rows) + [""]
    for host_id, host in hosts.items():
        for note in host.get("notes", []):
            lines.append(f"- {host_id}: {note}")

    lines += ["", "## Metrics", ""]
    for metric in used:
        definition = metrics[metric]
        lines.append(f"- **{definition['short']}** ({definition['unit']}, {definition['better']} is better): "
                     f"{definition['label']}")

    lines += ["", "## Subjects", ""]
    for subject in report["subjects"]:
        lines.append(f"- **{subject['name']}** ({subject['kind']}, on {subject['host']}): `{subject['command']}`")
        for note in subject.get("notes", []):
            lines.append(f"  - {note}")
    for note in report.get("notes", []):
        lines += ["", note]
    return "\n".join(lines) + "\n"
