"""Tests of scripts/compare's report generator on fixture data: the JSON
schema check, the Markdown report, the plots and the output check."""

import copy
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))

from compare_lib import check, hostinfo, markdown, mdtable, network, output, plots, runner, schema  # noqa: E402
from compare_lib.order import round_order  # noqa: E402
from compare_lib.parse import parse_host_lines, parse_workload_output  # noqa: E402
from compare_lib.plan import Plan  # noqa: E402
from compare_lib.metrics import goal_verdict, paired_ratio_interval, ratios_to_baseline, spread, summarize, within_noise  # noqa: E402

PROJECT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "report.json")


def load_fixture():
    with open(FIXTURE) as file:
        return json.load(file)


def subject(report, subject_id):
    return next(entry for entry in report["subjects"] if entry["id"] == subject_id)


class SchemaTest(unittest.TestCase):
    def test_fixture_is_valid(self):
        self.assertEqual(schema.validate(load_fixture()), [])

    def test_unavailable_subject_needs_a_reason(self):
        report = load_fixture()
        subject(report, "local-crun")["reason"] = ""
        problems = schema.validate(report)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("local-crun", problems[0])

    def test_measured_subject_needs_figures(self):
        report = load_fixture()
        subject(report, "local-bwrap")["figures"] = {}
        self.assertTrue(any("local-bwrap: measured but has no figures" in problem
                            for problem in schema.validate(report)))

    def test_figures_must_be_ordered(self):
        report = load_fixture()
        subject(report, "nested-vm")["figures"]["true_ms"]["min"] = 99999
        self.assertTrue(any("nested-vm, true_ms" in problem for problem in schema.validate(report)))

    def test_subject_host_must_exist(self):
        report = load_fixture()
        subject(report, "local-bwrap")["host"] = "elsewhere"
        self.assertTrue(any("host 'elsewhere'" in problem for problem in schema.validate(report)))

    def test_unknown_metric_and_bad_schema(self):
        report = load_fixture()
        report["schema"] = "other"
        subject(report, "local-bwrap")["figures"]["furlongs"] = summarize([1])
        problems = schema.validate(report)
        self.assertTrue(any("schema" in problem for problem in problems))
        self.assertTrue(any("furlongs: unknown metric" in problem for problem in problems))

    def test_not_an_object(self):
        self.assertEqual(schema.validate([]), ["the report is not a JSON object"])


class SummarizeTest(unittest.TestCase):
    def test_median_min_max(self):
        figures = summarize([3, 1, 2, 10])
        self.assertEqual((figures["median"], figures["min"], figures["max"]), (2.5, 1, 10))
        self.assertEqual(figures["samples"], [3, 1, 2, 10])

    def test_no_samples(self):
        with self.assertRaises(ValueError):
            summarize([])


class RatioTest(unittest.TestCase):
    def test_overlapping_spreads_are_within_noise(self):
        report = load_fixture()
        baseline = subject(report, "local-baseline")
        metric = next(iter(baseline["figures"]))
        other = next(entry for entry in report["subjects"] if entry["host"] == "local" and entry is not baseline
                     and entry["status"] == "measured" and metric in entry["figures"])
        reference = baseline["figures"][metric]
        # Apart: the subject's every run is 10x the baseline's slowest.
        other["figures"][metric] = summarize([reference["max"] * 10 + index for index in range(12)])
        self.assertNotIn(("local", other["id"], metric), within_noise(report))
        # Overlapping: the same samples as the baseline, one a little slower.
        samples = list(reference["samples"]) + [reference["max"] * 1.01]
        other["figures"][metric] = summarize(samples)
        self.assertIn(("local", other["id"], metric), within_noise(report))
        self.assertIn("(within noise)", markdown.render(report))

    def test_spread_is_the_deciles_from_ten_runs(self):
        self.assertEqual(spread(summarize([1, 2, 3])), (1.0, 3.0))
        low, high = spread(summarize(list(range(1, 101))))
        self.assertAlmostEqual(low, 10.1)
        self.assertAlmostEqual(high, 90.9)

    def test_ratios_only_within_one_host(self):
        ratios = ratios_to_baseline(load_fixture())
        self.assertEqual(set(ratios), {"local", "nested"})
        self.assertAlmostEqual(ratios["nested"]["nested-vm"]["true_ms"], 300.0)
        self.assertAlmostEqual(ratios["local"]["local-vmm-container"]["true_ms"], 9.5 / 1.1)
        self.assertNotIn("nested-vm", ratios["local"])
        # Throughput is inverted so that above 1 always means "costs more".
        self.assertAlmostEqual(ratios["local"]["local-vmm-container"]["read_mib_s"], 675 / 665)
        self.assertNotIn("local-baseline", ratios["local"])

    def test_no_ratios_without_a_baseline(self):
        report = load_fixture()
        report["subjects"] = [entry for entry in report["subjects"] if entry["kind"] != "baseline"]
        self.assertEqual(ratios_to_baseline(report), {})
        self.assertIn("No host has both a measured baseline", markdown.render(report))


class RatioIntervalTest(unittest.TestCase):
    # Eighty rounds of a reference that wanders by round (as the host's load
    # does) and a subject that follows it.
    reference = [3.0 + 0.4 * ((index * 37) % 11) / 10 for index in range(80)]

    def test_a_clear_difference_lies_outside_the_interval(self):
        faster = [value * 0.8 for value in self.reference]
        low, high = paired_ratio_interval(faster, self.reference)
        self.assertLess(high, 1.0)
        self.assertEqual(goal_verdict(0.8, (low, high), 1.0), "met")
        slower = [value * 1.3 for value in self.reference]
        interval = paired_ratio_interval(slower, self.reference)
        self.assertGreater(interval[0], 1.0)
        self.assertEqual(goal_verdict(1.3, interval, 1.0), "MISSED")

    def test_the_same_pace_is_within_noise(self):
        # The same values in another order: equal medians, rounds unrelated.
        shuffled = self.reference[40:] + self.reference[:40]
        low, high = paired_ratio_interval(shuffled, self.reference)
        self.assertLess(low, 1.0)
        self.assertGreater(high, 1.0)
        self.assertEqual(goal_verdict(1.0, (low, high), 1.0), "met, within noise")
        self.assertEqual(goal_verdict(1.01, (low, high), 1.0), "MISSED, within noise")

    def test_the_interval_holds_the_ratio_and_is_repeatable(self):
        subject = [value * 1.05 + 0.1 * (index % 3) for index, value in enumerate(self.reference)]
        low, high = paired_ratio_interval(subject, self.reference)
        ratio = statistics.median(subject) / statistics.median(self.reference)
        self.assertLessEqual(low, ratio)
        self.assertLessEqual(ratio, high)
        self.assertEqual((low, high), paired_ratio_interval(subject, self.reference))

    def test_unpaired_samples_are_refused(self):
        with self.assertRaises(ValueError):
            paired_ratio_interval([1.0, 2.0], [1.0])
        with self.assertRaises(ValueError):
            paired_ratio_interval([], [])


class NestedDiskTest(unittest.TestCase):
    """L1's baseline and vmm --container write to the same ext4 as the VM
    (a loop-mounted copy of its image), or all but the VM to tmpfs."""

    def run_disk_set_up(self, loop_mount_status):
        # The set-up lines under sh, with mount, cp and the rest replaced by
        # functions that log their arguments (mount -o loop fails or not).
        stubs = "\n".join([
            "insmod() { :; }",
            "cp() { echo \"call cp $*\"; }",
            "rm() { echo \"call rm $*\"; }",
            "mkdir() { echo \"call mkdir $*\"; }",
            "mount() { echo \"call mount $*\"; case \"$*\" in *loop*) return %d;; esac; }" % loop_mount_status,
        ])
        script = stubs + "\n" + "\n".join(runner.nested_disk_lines()) + "\necho \"disk is $disk\"\n"
        result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.splitlines()

    @staticmethod
    def layers_directory():
        with open(os.path.join(PROJECT, "container", "WritableLayer.h")) as file:
            return re.search(r'writable_layers_directory = "([^"]+)"', file.read()).group(1)

    def test_baseline_and_layers_on_the_loop_mounted_ext4(self):
        output = self.run_disk_set_up(0)
        self.assertIn("call mount -o loop /disk.img /disk", output)
        self.assertIn("disk is ext4", output)
        host = hostinfo.nested_host(parse_host_lines("\n".join(output)))
        self.assertTrue(any("on ext4 (a copy of the rootfs image" in note for note in host["notes"]), host["notes"])
        # vmm --container's layers (under /var/lib/vmm) land on the disk.
        self.assertIn("call mount --bind /disk/var/lib/vmm /var/lib/vmm", output)
        self.assertTrue(self.layers_directory().startswith("/var/lib/vmm/"))

    def test_fallback_to_tmpfs(self):
        output = self.run_disk_set_up(32)
        self.assertIn("disk is tmpfs", output)
        self.assertIn("call rm -f /disk.img", output)
        self.assertIn("call mount --bind /disk/var/lib/vmm /var/lib/vmm", output)
        host = hostinfo.nested_host(parse_host_lines("\n".join(output)))
        self.assertTrue(any("on tmpfs (L1 could not loop-mount" in note for note in host["notes"]), host["notes"])
        self.assertFalse(any("files:" in note for note in hostinfo.nested_host({})["notes"]))

    def test_script_writes_the_baseline_to_the_disk(self):
        lines = runner.nested_script(Plan(True)).splitlines()
        self.assertLess(lines.index(runner.nested_disk_lines()[0]),
                        min(index for index, line in enumerate(lines) if "/workload time" in line),
                        "the disk is set up before the first round")
        baseline = [line for line in lines if "--label nested-baseline-bench" in line]
        self.assertTrue(baseline and all(line.endswith("--dir /disk/var/tmp") for line in baseline), baseline)
        # The tmpfs run is a note, made only when the baseline row is not on tmpfs already.
        tmpfs = [line for line in lines if f"--label {runner.TMPFS_BASELINE_LABEL}" in line]
        self.assertTrue(tmpfs and all(line.startswith("[ $disk = tmpfs ] || ") and line.endswith("--dir /rootfs/var/tmp")
                                      for line in tmpfs), tmpfs)

    def test_container_bench_writes_to_a_volume_on_the_disk(self):
        # Its root's overlay is volatile (fsync returns at once): the bench
        # writes where the baseline does, through a volume; /bin/true has none.
        lines = runner.nested_script(Plan(True)).splitlines()
        bench = [line for line in lines if "--label nested-vmm-container-bench" in line]
        true = [line for line in lines if "--label nested-vmm-container-true" in line]
        self.assertTrue(bench and all("--volume /disk/var/tmp:/var/tmp -- " in line and line.endswith("--dir /var/tmp")
                                      for line in bench), bench)
        self.assertTrue(true and not any("--volume" in line for line in true), true)

    def test_tmpfs_note(self):
        output = "\n".join([
            f"workload-child label={runner.TMPFS_BASELINE_LABEL} run=0 workload-result syscall_ns=1 spawn_us=1 "
            "cpu_ms=1 write_mib_s=500.0 read_mib_s=300.0",
            f"workload-child label={runner.TMPFS_BASELINE_LABEL} run=0 workload-result syscall_ns=1 spawn_us=1 "
            "cpu_ms=1 write_mib_s=460.0 read_mib_s=260.0",
            "workload-child label=nested-vm-bench run=0 workload-result syscall_ns=1 spawn_us=1 cpu_ms=1 "
            "write_mib_s=80.0 read_mib_s=1000.0",
        ])
        note = runner.tmpfs_baseline_note(parse_workload_output(output))
        self.assertIn("write+fsync 480.0 MiB/s (the VM's cost factor against it: 6.00×)", note)
        self.assertIn("read 280.0 MiB/s", note)
        self.assertIn("fsync does nothing", note)
        self.assertIsNone(runner.tmpfs_baseline_note(parse_workload_output("")), "no note without a tmpfs run")


class RoundOrderTest(unittest.TestCase):
    SUBJECTS = ["host", "bwrap", "runc", "vmm-container", "vmm-vm", "crun"]

    def predecessors(self, rounds):
        """Which subject ran just before each one, over `rounds` rounds run back to back."""
        sequence = [subject for index in range(rounds) for subject in round_order(self.SUBJECTS, index)]
        found = {subject: set() for subject in self.SUBJECTS}
        for before, after in zip(sequence, sequence[1:]):
            found[after].add(before)
        return found

    def test_every_round_runs_every_subject_once(self):
        for index in range(20):
            self.assertEqual(sorted(round_order(self.SUBJECTS, index)), sorted(self.SUBJECTS))

    def test_no_subject_always_follows_the_same_one(self):
        # A rotated order fails this: each subject follows the same one in every round but one.
        for subject, before in self.predecessors(20).items():
            self.assertGreater(len(before), 2, f"{subject} follows only {before}")

    def test_no_subject_always_runs_first(self):
        firsts = {round_order(self.SUBJECTS, index)[0] for index in range(20)}
        self.assertGreater(len(firsts), 2, firsts)

    def test_a_run_can_be_repeated(self):
        self.assertEqual([round_order(self.SUBJECTS, index) for index in range(5)],
                         [round_order(self.SUBJECTS, index) for index in range(5)])

    def test_nested_rounds_are_shuffled_too(self):
        plan = Plan(False)
        lines = runner.nested_script(plan).splitlines()
        labels = [line.split("--label ")[1].split()[0] for line in lines if "/workload time" in line and "-true " in line]
        per_round = len(labels) // plan.nested_true_rounds
        orders = {tuple(labels[start:start + per_round]) for start in range(0, len(labels), per_round)}
        self.assertEqual(len(labels), per_round * plan.nested_true_rounds)
        self.assertGreater(len(orders), 1, orders)


class MarkdownTest(unittest.TestCase):
    def setUp(self):
        self.text = markdown.render(load_fixture())

    def test_table_has_units_and_every_subject(self):
        self.assertIn("| subject | host | true (ms) | boot marker (ms) |", self.text)
        self.assertIn("getpid (ns)", self.text)
        self.assertIn("| vmm --container | local | 9.50 (9.00–12.0) | 7.00 (6.50–8.00) |", self.text)
        self.assertIn("| vmm boot | nested | 9000 (8500–9800) |", self.text)
        self.assertIn("| crun run | local | unavailable: see below |", self.text)

    def test_reasons_are_listed(self):
        self.assertIn("- **vmm boot** on local (unavailable): host /dev/kvm is PVM: guest user space unavailable",
                      self.text)
        self.assertIn("cgroups in hybrid mode not supported", self.text)

    def test_ratio_tables(self):
        self.assertIn("| vmm boot | 300.00× | 1.08× | 1.07× |", self.text)
        # 9000 ms on the nested host over 1.1 ms on the local one must never appear.
        self.assertNotIn("8181", self.text)

    def test_hosts_are_described(self):
        self.assertIn("| nested | nested SVM L1 under QEMU TCG | 6.1.0-cloud-amd64 |", self.text)
        self.assertIn("| yes | v2 |", self.text)


class PlotAndCheckTest(unittest.TestCase):
    def test_plots_are_written_and_checked(self):
        report = load_fixture()
        with tempfile.TemporaryDirectory() as directory:
            paths = plots.write_plots(report, directory)
            names = sorted(os.path.basename(path) for path in paths)
            self.assertIn("summary.png", names)
            self.assertIn("true_ms.png", names)
            self.assertIn("guest_ram_mib.png", names)
            self.assertEqual(len(names), 11)
            for path in paths:
                with open(path, "rb") as file:
                    self.assertEqual(file.read(8), check.PNG_SIGNATURE)
                self.assertGreater(os.path.getsize(path), 5000)
            # The check wants report.json and report.md beside the plots.
            self.assertTrue(any("report.json" in problem for problem in check.check_directory(directory)))
            with open(os.path.join(directory, "report.json"), "w") as file:
                json.dump(report, file)
            with open(os.path.join(directory, "report.md"), "w") as file:
                file.write(markdown.render(report))
            self.assertEqual(check.check_directory(directory), [])
            open(os.path.join(directory, "cpu_ms.png"), "w").close()
            self.assertEqual(check.check_directory(directory),
                             [f"{os.path.join(directory, 'cpu_ms.png')} is not a non-empty PNG"])

    def test_summary_without_ratios(self):
        report = copy.deepcopy(load_fixture())
        report["subjects"] = [entry for entry in report["subjects"] if entry["kind"] != "baseline"]
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "summary.png")
            plots.plot_summary(report, path)
            self.assertGreater(os.path.getsize(path), 1000)



def network_row(row_id, kind, host, median):
    figure = {"median": median, "min": median, "max": median, "samples": [median]}
    return {"id": row_id, "name": row_id, "kind": kind, "host": host, "path": "p", "status": "measured",
            "reason": None, "figures": {"rr_median_us": figure, "rr_p99_us": figure, "stream_mib_s": figure}}


class NetworkTest(unittest.TestCase):
    def test_order_holds_and_says_by_how_much(self):
        rows = [network_row("n", "baseline", "local", 10.0), network_row("c", "container", "local", 15.0),
                network_row("v", "vm", "local", 40.0)]
        verdict = network.order_verdicts(rows)["local"]
        self.assertIn("native < container < VM holds", verdict)
        self.assertIn("1.50× native", verdict)
        self.assertIn("4.00× native", verdict)

    def test_order_that_breaks_is_reported(self):
        rows = [network_row("n", "baseline", "nested", 10.0), network_row("c", "container", "nested", 50.0),
                network_row("v", "vm", "nested", 40.0)]
        self.assertIn("does not hold", network.order_verdicts(rows)["nested"])

    def test_schema_and_markdown(self):
        report = load_fixture()
        report["network"] = network.section([network_row("n", "baseline", "local", 10.0),
                                             network_row("c", "container", "local", 15.0)])
        self.assertEqual(schema.validate(report), [])
        text = markdown.render(report)
        self.assertIn("## Network: TCP request/response and bulk throughput", text)
        self.assertIn("Felter", text)
        self.assertIn("native < container holds", text)
        report["network"]["rows"][1].update(status="failed", reason="")
        self.assertTrue(any("network row c" in problem for problem in schema.validate(report)))

    def test_nested_rows_from_the_l1_output(self):
        stdout = "\n".join([
            "compare-net nested-net-host workload-result rr_median_us=60.5 rr_p99_us=90.0 rr_count=300 ",
            "compare-net nested-net-host workload-result stream_mib_s=800.0 stream_mib=8 ",
            "compare-net nested-net-container workload-result rr_median_us=500.0 rr_p99_us=900.0 rr_count=300 ",
            "compare-net nested-net-vm workload: connect 10.88.0.10: Connection refused ",
            "compare-net nested-net-vm server-failed vmm: something went wrong ",
            "compare-host kernel=6.1",
        ])
        rows = {row["id"]: row for row in network.nested_rows(stdout, None)}
        self.assertEqual(rows["nested-net-host"]["status"], "measured")
        self.assertEqual(rows["nested-net-host"]["figures"]["rr_median_us"]["median"], 60.5)
        self.assertEqual(rows["nested-net-host"]["figures"]["stream_mib_s"]["median"], 800.0)
        self.assertEqual(rows["nested-net-container"]["status"], "measured")
        self.assertNotIn("stream_mib_s", rows["nested-net-container"]["figures"])
        self.assertEqual(rows["nested-net-vm"]["status"], "failed")
        self.assertIn("Connection refused", rows["nested-net-vm"]["reason"])
        self.assertEqual(rows["nested-net-vm-user"]["status"], "failed")
        self.assertEqual(rows["nested-net-vm-user"]["reason"], "no result from L1")
        self.assertTrue(all(row["host"] == "nested" for row in rows.values()))
        self.assertEqual({row["kind"] for row in rows.values()}, {"baseline", "container", "vm"})

    def test_nested_rows_without_l1(self):
        rows = network.nested_rows("", "skipped (--no-nested)")
        self.assertTrue(all(row["status"] == "unavailable" and row["reason"] == "skipped (--no-nested)" for row in rows))
        report = load_fixture()
        report["network"] = network.section(rows)
        self.assertEqual(schema.validate(report), [])


def table_cells(line):
    """The cells of a Markdown table row, split where GitHub splits them (at
    every '|' that is not escaped)."""
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


class MarkdownEscapeTest(unittest.TestCase):
    """Text from a run that holds '|' or a line break stays in its cell."""

    def test_cell(self):
        self.assertEqual(mdtable.cell("a | b"), "a \\| b")
        self.assertEqual(mdtable.cell("one\ntwo\r\nthree"), "one two three")
        self.assertEqual(mdtable.cell(1.5), "1.5")

    def test_network_reason_with_a_pipe(self):
        report = load_fixture()
        rows = network.nested_rows("compare-net nested-net-vm server-failed vmm: a | b\n", None)
        report["network"] = network.section(rows)
        lines = markdown.render(report).splitlines()
        header = next(line for line in lines if line.startswith("| subject | host | path |"))
        row = next(line for line in lines if line.startswith("| vmm boot --net bridge (vhost-net) |"))
        self.assertEqual(len(table_cells(row)), len(table_cells(header)), row)
        self.assertIn("a \\| b", row)

    def test_every_table_keeps_its_columns(self):
        report = load_fixture()
        subject(report, "local-crun")["name"] = "crun | run"
        report["hosts"]["local"]["kernel"] = "6.1 | custom\nbuild"
        reason = "scripts/nested-kvm exited with status 1: a | b; c"
        report["network"] = network.section(network.nested_rows("", reason))
        text = markdown.render(report)
        table = []
        for line in text.splitlines() + [""]:
            if line.startswith("|"):
                table.append(line)
            elif table:
                widths = {len(table_cells(row)) for row in table}
                self.assertEqual(len(widths), 1, table)
                table = []

    def test_nested_failure_tail_is_not_joined_with_pipes(self):
        with open(os.path.join(PROJECT, "scripts", "compare_lib", "runner.py")) as file:
            self.assertNotIn('" | ".join', file.read())


class OutputTest(unittest.TestCase):
    """compare_lib.output: the output directory checked up front, the report
    moved into place all at once, stale plots removed."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="compare-output-test-")
        self.addCleanup(shutil.rmtree, self.directory, True)

    def write_old(self, names):
        for name in names:
            with open(os.path.join(self.directory, name), "w") as file:
                file.write("old")

    def contents(self):
        found = {}
        for name in os.listdir(self.directory):
            with open(os.path.join(self.directory, name)) as file:
                found[name] = file.read()
        return found

    def writer(self, names, fail_after=None, interrupt_after=None):
        def write(staging):
            for index, name in enumerate(names):
                if index == fail_after:
                    raise OSError(28, "No space left on device", os.path.join(staging, name))
                if index == interrupt_after:
                    os.kill(os.getpid(), signal.SIGINT)
                with open(os.path.join(staging, name), "w") as file:
                    file.write("new")
            return names
        return write

    def test_prepare_makes_the_directory(self):
        target = os.path.join(self.directory, "a", "b")
        made = output.prepare(target)
        self.assertTrue(os.path.isdir(target))
        self.assertEqual(made, [target, os.path.dirname(target)])
        self.assertEqual(os.listdir(target), [])
        output.remove_made(made)
        self.assertEqual(os.listdir(self.directory), [])

    def test_prepare_refuses_a_file_and_a_path_below_one(self):
        path = os.path.join(self.directory, "file")
        open(path, "w").close()
        with self.assertRaisesRegex(output.OutputError, "is not a directory"):
            output.prepare(path)
        with self.assertRaisesRegex(output.OutputError, "cannot create .*file/sub: Not a directory"):
            output.prepare(os.path.join(path, "sub"))
        self.assertEqual(os.listdir(self.directory), ["file"])

    @unittest.skipIf(os.geteuid() == 0, "root writes to a directory whatever its mode")
    def test_prepare_refuses_a_directory_it_cannot_write_to(self):
        os.chmod(self.directory, 0o500)
        self.addCleanup(os.chmod, self.directory, 0o700)
        with self.assertRaisesRegex(output.OutputError, "cannot write into"):
            output.prepare(self.directory)

    def test_publish_replaces_and_removes_stale_plots(self):
        self.write_old(["report.md", "summary.png", "cpu_ms.png", "mine.txt"])
        written = output.publish(self.directory, self.writer(["report.md", "summary.png", "true_ms.png"]),
                                 stale_names={"cpu_ms.png", "true_ms.png"})
        self.assertEqual(sorted(os.path.basename(path) for path in written), ["report.md", "summary.png", "true_ms.png"])
        self.assertEqual(self.contents(), {"report.md": "new", "summary.png": "new", "true_ms.png": "new",
                                           "mine.txt": "old"})

    def test_a_failed_write_leaves_the_old_report(self):
        self.write_old(["report.md", "summary.png"])
        with self.assertRaisesRegex(output.OutputError, "summary.png: No space left on device"):
            output.publish(self.directory, self.writer(["report.md", "summary.png"], fail_after=1))
        self.assertEqual(self.contents(), {"report.md": "old", "summary.png": "old"})

    def test_ctrl_c_while_writing_leaves_the_old_report(self):
        self.write_old(["report.md", "summary.png"])
        with self.assertRaises(KeyboardInterrupt):
            output.publish(self.directory, self.writer(["report.md", "summary.png"], interrupt_after=1))
        self.assertEqual(self.contents(), {"report.md": "old", "summary.png": "old"})

    def test_ctrl_c_while_moving_waits_for_the_whole_report(self):
        self.write_old(["report.md", "summary.png", "cpu_ms.png"])
        replace = os.replace
        calls = []

        def interrupted_replace(source, target):
            if not calls:
                os.kill(os.getpid(), signal.SIGINT)
            calls.append(target)
            replace(source, target)
        output.os.replace = interrupted_replace
        self.addCleanup(setattr, output.os, "replace", replace)
        with self.assertRaises(KeyboardInterrupt):
            output.publish(self.directory, self.writer(["report.md", "summary.png"]), stale_names={"cpu_ms.png"})
        self.assertEqual(len(calls), 2)
        self.assertEqual(self.contents(), {"report.md": "new", "summary.png": "new"})


class RenderTest(unittest.TestCase):
    """scripts/compare --render: what it writes and says, and a directory it
    cannot write to."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="compare-render-test-")
        self.addCleanup(shutil.rmtree, self.directory, True)
        report = load_fixture()
        for entry in report["subjects"]:
            entry["figures"].pop("cpu_ms", None)
        with open(os.path.join(self.directory, "report.json"), "w") as file:
            json.dump(report, file)

    def render(self, directory):
        return subprocess.run([sys.executable, os.path.join(PROJECT, "scripts", "compare"), "--render", directory],
                              capture_output=True, text=True, timeout=300)

    def test_render_writes_the_report_and_not_report_json(self):
        with open(os.path.join(self.directory, "cpu_ms.png"), "w") as file:
            file.write("a plot of a metric the report no longer has")
        with open(os.path.join(self.directory, "report.json")) as file:
            before = file.read()
        result = self.render(self.directory)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"wrote {self.directory}/report.md and 10 plots (from its report.json)", result.stderr)
        self.assertNotIn("wrote " + os.path.join(self.directory, "report.json"), result.stderr)
        with open(os.path.join(self.directory, "report.json")) as file:
            self.assertEqual(file.read(), before)
        self.assertFalse(os.path.exists(os.path.join(self.directory, "cpu_ms.png")))
        self.assertEqual(check.check_directory(self.directory), [])
        self.assertEqual([name for name in os.listdir(self.directory) if name.startswith(".")], [])

    def test_render_of_a_missing_report_is_one_line(self):
        result = self.render(os.path.join(self.directory, "absent"))
        self.assertEqual(result.returncode, 1)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertIn("report.json", result.stderr)

    def test_usage_error_is_one_line(self):
        result = subprocess.run([sys.executable, os.path.join(PROJECT, "scripts", "compare"), "--bogus"],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 2)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)


if __name__ == "__main__":
    unittest.main()
