"""Runs the subjects: the local ones one after another in rounds (so that
load from elsewhere falls on all of them alike), the nested ones in a single
scripts/nested-kvm run whose L1 shell script measures its own baseline too,
writing to the same filesystem as the subjects (NESTED_DISK)."""

import os
import shlex
import statistics
import subprocess
import sys
import tarfile
import threading
import time

from . import network
from .order import round_order
from .parse import parse_host_lines, parse_workload_output
from .subjects import GUEST_MEMORY_MIB, Subject

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def progress(message):
    print(f"compare: {message}", file=sys.stderr, flush=True)


def _workload_time(paths, label, argv, memory_bytes, timeout):
    command = [paths.workload, "time", "--runs", "1", "--label", label, "--timeout", str(timeout)]
    if memory_bytes is not None:
        command += ["--memory", str(memory_bytes)]
    try:
        result = subprocess.run(command + ["--", *argv], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        return f"workload-time label={label} run=0 status=124 total_ms=-1 marker_ms=-1\n"
    return result.stdout


def run_local(paths, plan, subjects, runs_by_label):
    measurable = [subject for subject in subjects if subject.reason is None]
    bench = plan.bench_command(plan.bench)
    phases = [("true", ["/bin/true"], plan.true_rounds, False), ("bench", bench, plan.bench_rounds, True)]
    for phase, inner, rounds, sample_memory in phases:
        for round_index in range(rounds):
            for subject in round_order(measurable, round_index):
                label = f"{subject.id}-{phase}"
                previous = runs_by_label.get(label)
                if previous and any(entry.get("status") != 0 for entry in previous.times):
                    continue  # It failed once: its reason is known, spare the time.
                progress(f"[local] {phase}: {subject.name}, round {round_index + 1}/{rounds} "
                         f"({rounds - round_index - 1} left)")
                memory = subject.memory_bytes if sample_memory else None
                output = _workload_time(paths, label, subject.make_argv(inner), memory, plan.run_timeout)
                parse_workload_output(output, runs_by_label)


NESTED_SUBJECTS = [
    ("nested-baseline", "L1 host (baseline)", "baseline",
     "the rootfs's binaries run directly in L1 (rootfs unpacked into L1's RAM), bench files in /disk/var/tmp"),
    ("nested-vm", "vmm boot (microVM)", "vm",
     f"/vmm boot --timings --mem {GUEST_MEMORY_MIB}M /bzImage /rootfs.ext4 -- CMD (image in L1's RAM)"),
    ("nested-vmm-container", "vmm --container", "container",
     "/vmm --container /rootfs --timings --mem 1G --pids 1024 -- CMD (cgroup v2 mounted by the script, "
     "writable layers on /disk, the bench's files in the volume --volume /disk/var/tmp:/var/tmp)"),
]


# Where L1's baseline and `vmm --container` write: a copy of the VM's image
# loop-mounted in L1's RAM, so that they and the VM all write through ext4 with
# the same tmpfs below it (the VM through its own copy); a plain directory on
# L1's tmpfs where L1 cannot loop-mount the image.
NESTED_DISK = "/disk"
TMPFS_BASELINE_LABEL = "nested-baseline-tmpfs-bench"


def tmpfs_baseline_note(runs_by_label):
    """The VM's file figures next to L1 writing to its tmpfs (where fsync does
    nothing): the figure the baseline row showed before it moved to ext4.
    None when there is no such run (L1 could not mount the image, so the
    baseline row itself is on tmpfs)."""
    tmpfs = runs_by_label.get(TMPFS_BASELINE_LABEL)
    vm = runs_by_label.get("nested-vm-bench")
    if not tmpfs or not tmpfs.results:
        return None
    medians = {}
    for name, runs in (("tmpfs", tmpfs), ("vm", vm)):
        for metric in ("write_mib_s", "read_mib_s"):
            values = [result[metric] for result in (runs.results if runs else []) if metric in result]
            if values:
                medians[(name, metric)] = statistics.median(values)
    parts = []
    for metric, what in (("write_mib_s", "write+fsync"), ("read_mib_s", "read")):
        if ("tmpfs", metric) not in medians:
            continue
        text = f"{what} {medians[('tmpfs', metric)]:.1f} MiB/s"
        if ("vm", metric) in medians and medians[("vm", metric)] > 0:
            text += f" (the VM's cost factor against it: {medians[('tmpfs', metric)] / medians[('vm', metric)]:.2f}×)"
        parts.append(text)
    return ("L1 baseline on L1's tmpfs instead (where fsync does nothing; the baseline row writes through ext4 "
            "as the VM does): " + ", ".join(parts)) if parts else None


def nested_disk_lines():
    """L1's set-up of NESTED_DISK: sets $disk to ext4 or tmpfs, prints it as a
    compare-host line and binds the disk's var/lib/vmm over /var/lib/vmm, where
    `vmm --container` keeps its writable layers (container/WritableLayer.h)."""
    return [
        f"insmod /nested/modules/loop.ko 2>/dev/null; mkdir -p {NESTED_DISK}",
        f"if cp /rootfs.ext4 /disk.img && mount -o loop /disk.img {NESTED_DISK}; then disk=ext4",
        "else disk=tmpfs; rm -f /disk.img; fi",
        f"mkdir -p {NESTED_DISK}/var/tmp {NESTED_DISK}/var/lib/vmm /var/lib/vmm",
        f"mount --bind {NESTED_DISK}/var/lib/vmm /var/lib/vmm",
        "if [ $disk = ext4 ]; then echo 'compare-host disk=ext4 (a copy of the rootfs image loop-mounted in L1 RAM)'",
        "else echo 'compare-host disk=tmpfs (L1 could not loop-mount the rootfs image; fsync does nothing there)'; fi",
    ]


def nested_script(plan):
    """The shell script that runs in L1: host description, then the rounds."""
    bench = plan.bench_command(plan.nested_bench)
    baseline_bench = ["/rootfs" + bench[0]] + bench[1:-1] + [NESTED_DISK + "/var/tmp"]
    tmpfs_bench = ["/rootfs" + bench[0]] + bench[1:-1] + ["/rootfs/var/tmp"]
    vm = ["/vmm", "boot", "--timings", "--mem", f"{GUEST_MEMORY_MIB}M", "/bzImage", "/rootfs.ext4", "--"]
    container = ["/vmm", "--container", "/rootfs", "--timings", "--mem", "1G", "--pids", "1024", "--"]
    commands = {
        "nested-baseline": (["/rootfs/bin/busybox", "true"], baseline_bench, 0),
        "nested-vm": (vm + ["/bin/true"], vm + bench, GUEST_MEMORY_MIB << 20),
        "nested-vmm-container": (container + ["/bin/true"],
                                 container[:-1] + ["--volume", f"{NESTED_DISK}/var/tmp:/var/tmp", "--"] + bench, 0),
    }
    timeout = plan.nested_timeout
    lines = [
        "# Written by scripts/compare; runs in the nested SVM host (L1).",
        "# L1's root is the initramfs, where pivot_root (vmm --container) fails:",
        "# the script first moves itself into a tmpfs root.",
        "if [ -z \"${COMPARE_IN_TMPFS:-}\" ]; then",
        "    mkdir -p /newroot && mount -t tmpfs -o size=90% tmpfs /newroot",
        "    for path in /bin /sbin /usr /lib /lib64 /etc /nested /vmm /vmm-nft /workload /bzImage /rootfs.ext4 /rootfs.tar /compare.sh; do",
        "        [ -e \"$path\" ] && cp -a \"$path\" /newroot/",
        "    done",
        "    mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/run",
        "    mount --rbind /proc /newroot/proc && mount --rbind /sys /newroot/sys && mount --rbind /dev /newroot/dev",
        "    COMPARE_IN_TMPFS=1 exec chroot /newroot /bin/sh /compare.sh",
        "fi",
        "echo \"compare-host kernel=$(uname -r)\"",
        "echo \"compare-host cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)\"",
        "echo \"compare-host cpus=$(grep -c ^processor /proc/cpuinfo)\"",
        "if grep -qw svm /proc/cpuinfo; then echo compare-host svm=yes; else echo compare-host svm=no; fi",
        "if [ -c /dev/kvm ]; then echo compare-host kvm=yes; else echo compare-host kvm=no; fi",
        "mkdir -p /sys/fs/cgroup",
        "if mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null; then",
        "    echo 'compare-host cgroup=v2 (mounted by scripts/compare)'",
        "    echo '+memory +pids +cpu' >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null",
        "else echo 'compare-host cgroup=none'; fi",
        "mkdir -p /rootfs && tar -xf /rootfs.tar -C /rootfs",
        *nested_disk_lines(),
    ]
    for phase, rounds, memory_phase in (("true", plan.nested_true_rounds, False),
                                        ("bench", plan.nested_bench_rounds, True)):
        for round_index in range(rounds):
            for subject_id, (true_argv, bench_argv, memory_bytes) in round_order(commands.items(), round_index):
                argv = bench_argv if phase == "bench" else true_argv
                memory = ["--memory", str(memory_bytes)] if memory_phase else []
                time_command = ["/workload", "time", "--runs", "1", "--label", f"{subject_id}-{phase}",
                                "--timeout", str(timeout), *memory, "--", *argv]
                lines.append(shlex.join(time_command))
            if phase == "bench":
                lines.append("[ $disk = tmpfs ] || " + shlex.join(
                    ["/workload", "time", "--runs", "1", "--label", TMPFS_BASELINE_LABEL, "--timeout", str(timeout), "--",
                     *tmpfs_bench]))
    lines += network.nested_script_lines(plan)
    lines.append("exit 0")
    return "\n".join(lines) + "\n"


def _heartbeat(stop, what, expected_seconds):
    start = time.monotonic()
    while not stop.wait(15):
        progress(f"{what}: {time.monotonic() - start:.0f} s so far (expect up to ~{expected_seconds} s)")


def _run_to_its_end(command, timeout, interrupt_grace=60):
    """subprocess.run with the output captured, except on Ctrl-C: the child,
    which got the same SIGINT (scripts/nested-kvm stops QEMU and removes its
    work directory), is given `interrupt_grace` seconds to finish before it
    is killed, rather than subprocess.run's quarter of a second."""
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    except KeyboardInterrupt:
        try:
            process.communicate(timeout=interrupt_grace)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            process.kill()
            process.wait()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def run_nested(paths, plan, work_dir, runs_by_label, outputs=None):
    """Returns (host description or None, reason when nothing could be measured);
    L1's output goes to outputs["stdout"] (the network rows read it)."""
    script_path = os.path.join(work_dir, "compare-l1.sh")
    with open(script_path, "w") as file:
        file.write(nested_script(plan))
    rootfs_tar = os.path.join(work_dir, "rootfs.tar")
    with tarfile.open(rootfs_tar, "w") as archive:
        archive.add(paths.rootfs, arcname=".")
    command = [os.path.join(PROJECT_DIR, "scripts", "nested-kvm"), "--build-dir", paths.build_dir,
               "--timeout", str(plan.nested_timeout), "--mem", "1536", "--network",
               "--vmm", paths.vmm,
               "--file", f"{paths.workload}:/workload", "--file", f"{script_path}:/compare.sh",
               "--file", f"{rootfs_tar}:/rootfs.tar", "--file", f"{paths.kernel}:/bzImage",
               "--file", f"{paths.image}:/rootfs.ext4",
               "--", "sh", "/compare.sh"]
    rounds = plan.nested_true_rounds + plan.nested_bench_rounds
    progress(f"[nested] one scripts/nested-kvm run: {rounds} rounds of {len(NESTED_SUBJECTS)} subjects in L1 "
             f"(output arrives when L1 powers off)")
    stop = threading.Event()
    thread = threading.Thread(target=_heartbeat, args=(stop, "[nested] L1 running", plan.nested_timeout), daemon=True)
    thread.start()
    try:
        result = _run_to_its_end(command, timeout=plan.nested_timeout + 120)
    except subprocess.TimeoutExpired:
        return None, "scripts/nested-kvm did not finish in time"
    finally:
        stop.set()
    if result.returncode == 77:
        line = (result.stderr.strip().splitlines() or ["nested KVM unavailable"])[-1]
        return None, line.replace("nested-kvm: unavailable: ", "nested SVM host unavailable: ")
    if outputs is not None:
        outputs["stdout"] = result.stdout
    parse_workload_output(result.stdout, runs_by_label)
    described = parse_host_lines(result.stdout)
    if result.returncode != 0 or not described:
        tail = "; ".join(result.stderr.strip().splitlines()[-3:])
        return (described or None), f"scripts/nested-kvm exited with status {result.returncode}: {tail}"
    progress(f"[nested] done: {len(result.stdout.splitlines())} lines of results")
    return described, None


def nested_subjects():
    return [Subject(subject_id, name, kind, "nested", command, make_argv=None,
                    memory_bytes=GUEST_MEMORY_MIB << 20 if kind == "vm" else 0)
            for subject_id, name, kind, command in NESTED_SUBJECTS] + [
        Subject("nested-qemu", "QEMU microvm + KVM", "vm", "nested", "qemu-system-x86_64 -accel kvm in L1",
                reason="QEMU is not packed into the nested host (scripts/nested-kvm's L1 holds busybox, vmm and "
                       "the given files only)"),
    ]
