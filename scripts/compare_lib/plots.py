"""PNG plots: one horizontal bar chart per metric (median with min-max
whiskers, coloured by the host it was measured on) and a summary figure of
the ratios to each host's baseline."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as pyplot  # noqa: E402
import matplotlib.ticker  # noqa: E402

from .metrics import format_value, ratios_to_baseline  # noqa: E402

HOST_COLOURS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3"]


def _host_colours(report):
    return {host: HOST_COLOURS[index % len(HOST_COLOURS)] for index, host in enumerate(report["hosts"])}


def _host_name(report, host):
    return report["hosts"][host].get("short_name", report["hosts"][host]["name"])


def _subject_label(subject):
    return f"{subject['name']}\n[{subject['host']}]"


def plot_metric(report, metric, path):
    definition = report["metrics"][metric]
    colours = _host_colours(report)
    subjects = report["subjects"]
    figure, axes = pyplot.subplots(figsize=(9, 0.55 * len(subjects) + 1.6))
    measured = [subject["figures"][metric] for subject in subjects if metric in subject["figures"]]
    values = [figure_["median"] for figure_ in measured]
    top = max(figure_["max"] for figure_ in measured)
    positive = [value for value in values if value > 0]
    logarithmic = positive and len(positive) == len(values) and max(positive) / min(positive) > 30
    for row, subject in enumerate(subjects):
        data = subject["figures"].get(metric)
        if data is None:
            why = "not measured" if subject["status"] == "measured" else subject["status"]
            axes.text(0.01, row, f"– {why}", transform=axes.get_yaxis_transform(), va="center", color="grey",
                      fontsize=9)
            continue
        error = [[data["median"] - data["min"]], [data["max"] - data["median"]]]
        axes.barh(row, data["median"], xerr=error, color=colours[subject["host"]], capsize=4, height=0.6,
                  error_kw={"elinewidth": 1.2})
        axes.text(data["max"] * (1.05 if logarithmic else 1) + (0 if logarithmic else top * 0.01), row,
                  format_value(data["median"]), va="center", fontsize=9)
    axes.set_ylim(len(subjects) - 0.5, -0.5)
    axes.set_yticks(range(len(subjects)))
    axes.set_yticklabels([_subject_label(subject) for subject in subjects], fontsize=9)
    if logarithmic:
        axes.set_xscale("log")
        axes.set_xlim(right=top * 4)
    else:
        axes.set_xlim(0, top * 1.18 if top > 0 else 1)
    better = "lower is better" if definition["better"] == "lower" else "higher is better"
    axes.set_xlabel(f"{definition['short']} ({definition['unit']}), {better}" + (", log scale" if logarithmic else ""))
    axes.set_title(definition["label"].replace("`", ""), fontsize=11)
    axes.grid(axis="x", alpha=0.3)
    handles = [matplotlib.patches.Patch(color=colours[host], label=f"{host}: {_host_name(report, host)}")
               for host in report["hosts"]]
    axes.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def plot_summary(report, path):
    ratios = ratios_to_baseline(report)
    metrics = report["metrics"]
    names = {subject["id"]: subject["name"] for subject in report["subjects"]}
    hosts = list(ratios) or ["none"]
    figure, axes_list = pyplot.subplots(1, len(hosts), figsize=(7 * len(hosts), 6), squeeze=False)
    for axes, host in zip(axes_list[0], hosts):
        by_subject = ratios.get(host, {})
        if not by_subject:
            axes.text(0.5, 0.5, "no subject and baseline measured on the same host", ha="center", va="center")
            axes.set_axis_off()
            continue
        used = [metric for metric in metrics if any(metric in row for row in by_subject.values())]
        width = min(0.8 / len(by_subject), 0.3)
        for index, (subject_id, row) in enumerate(by_subject.items()):
            positions = [position + index * width for position in range(len(used))]
            values = [row.get(metric, float("nan")) for metric in used]
            # Bars grow from 1 (as fast as the host) to the ratio, left or right.
            axes.barh(positions, [value - 1 for value in values], left=1, height=width, label=names[subject_id])
            for position, value in zip(positions, values):
                if value == value:
                    axes.text(max(value, 1) * 1.06, position, f"{value:.2f}×", va="center", fontsize=8)
        axes.set_yticks([position + width * (len(by_subject) - 1) / 2 for position in range(len(used))])
        axes.set_yticklabels([f"{metrics[metric]['short']} ({metrics[metric]['unit']}"
                              + (", inverted)" if metrics[metric]["better"] == "higher" else ")") for metric in used],
                             fontsize=9)
        axes.invert_yaxis()
        axes.set_xscale("log")
        finite = [value for row in by_subject.values() for value in row.values() if value > 0]
        axes.set_xlim(min(finite + [1]) / 1.5, max(finite + [1]) * 2.5)
        axes.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}×"))
        axes.axvline(1, color="black", linewidth=1)
        axes.set_xlabel("cost vs. the same host's baseline (×, log scale; >1 = costs more)")
        axes.set_title(f"{host}: {_host_name(report, host)}", fontsize=11)
        axes.grid(axis="x", alpha=0.3, which="both")
        axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    figure.suptitle("What each model costs, relative to the same workload on its host", fontsize=12)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def write_plots(report, directory):
    """Writes DIRECTORY/<metric>.png for every measured metric and
    DIRECTORY/summary.png; returns the paths."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for metric in report["metrics"]:
        if any(metric in subject["figures"] for subject in report["subjects"]):
            path = os.path.join(directory, f"{metric}.png")
            plot_metric(report, metric, path)
            paths.append(path)
    path = os.path.join(directory, "summary.png")
    plot_summary(report, path)
    paths.append(path)
    return paths
