"""The --quick CI run of scripts/compare: runs the whole suite into a
temporary directory and checks its output (report.json schema, a figure or a
reason for every subject, report.md and non-empty PNGs).

    python3 tests/compare/quick_run.py BUILD_DIR

Fails with one clear line when vmm, guest/workload, the rootfs or the guest
kernel (BUILD_DIR/guest/bzImage, or $VMM_GUEST_KERNEL) is missing. Exits 77
(ctest: skipped) when not run as root."""

import json
import os
import subprocess
import sys
import tempfile
import time

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(PROJECT, "scripts"))

from compare_lib import check  # noqa: E402
from compare_lib.subjects import Paths  # noqa: E402


def main():
    if len(sys.argv) != 2:
        print("usage: quick_run.py BUILD_DIR", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("compare quick run: skipped: needs root (containers and cgroups)")
        return 77
    kernel = os.environ.get("VMM_GUEST_KERNEL")
    paths = Paths(sys.argv[1], kernel)
    missing = paths.missing()
    if missing:
        print(f"compare quick run: cannot run: {missing}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="vmm-compare-quick-") as output:
        command = [os.path.join(PROJECT, "scripts", "compare"), "--quick", "--build-dir", paths.build_dir,
                   "--kernel", paths.kernel, "--output", output]
        start = time.monotonic()
        result = subprocess.run(command, stdin=subprocess.DEVNULL)
        elapsed = time.monotonic() - start
        print(f"compare quick run: scripts/compare took {elapsed:.1f} s, exit status {result.returncode}")
        if result.returncode != 0:
            return 1
        problems = check.check_directory(output)
        with open(os.path.join(output, "report.json")) as file:
            report = json.load(file)
        for subject in report["subjects"]:
            state = "figures: " + ", ".join(subject["figures"]) if subject["figures"] else f"reason: {subject['reason']}"
            print(f"  {subject['id']} ({subject['status']}) {state}")
        expected = {"local-baseline", "local-vm", "local-vmm-container", "nested-vm", "nested-baseline"}
        absent = expected - {subject["id"] for subject in report["subjects"]}
        if absent:
            problems.append(f"subjects missing from the report: {', '.join(sorted(absent))}")
        network_rows = {row["id"]: row for row in report.get("network", {}).get("rows", [])}
        for row_id in ("local-net-host", "nested-net-host", "nested-net-container", "nested-net-vm", "nested-net-vm-user"):
            row = network_rows.get(row_id)
            if not row:
                problems.append(f"network row {row_id} is missing from the report")
            else:
                print(f"  network {row_id} ({row['status']}) {row['figures'] or row['reason']}")
                # Unavailable is the host's limit; failed is vmm's (or the script's) fault.
                if row["status"] == "failed":
                    problems.append(f"network row {row_id} failed: {row['reason']}")
        for problem in problems:
            print(f"compare quick run: {problem}", file=sys.stderr)
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
