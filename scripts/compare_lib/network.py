"""Network figures (issue 13): TCP request/response latency (1-byte
ping-pong, median and p99, as netperf TCP_RR) and bulk throughput, with
guest/workload's serve/rr/stream modes. The server runs in the subject, the
client on the same host, so each row costs what crossing into that subject
costs: loopback for the host itself, bridge + veth for a container, the
published port (nftables DNAT) for a container reached as `-p` users reach
it, TAP + virtio-net for a VM (the VM rows are the nested host's and come
from the VM side of the work). Traffic goes only to the subject's address.

report["network"] = {
  "rows": [{"id", "name", "kind": "baseline"|"container"|"vm", "host", "path",
            "status": "measured"|"unavailable"|"failed", "reason",
            "figures": {"rr_median_us"|"rr_p99_us"|"stream_mib_s": {"median","min","max","samples"}}}],
  "reference": {...}, "order": {HOST_ID: str}}
"""

import re
import subprocess
import time

from .mdtable import table
from .metrics import summarize

METRICS = {
    "rr_median_us": ("TCP_RR median", "µs", "lower"),
    "rr_p99_us": ("TCP_RR p99", "µs", "lower"),
    "stream_mib_s": ("TCP stream", "MiB/s", "higher"),
}

# What REFERENCES.md records of Felter et al.; their figure's values are not
# in it and are not copied here from memory.
REFERENCE = {
    "source": "Felter, Ferreira, Rajamony, Rubio, \"An Updated Performance Comparison of Virtual Machines and "
              "Linux Containers\", IBM RC25482 (2014), ISPASS 2015",
    "setup": "netperf TCP_RR between two machines over 10 GbE: native, Docker (host network and NAT) and KVM "
             "(virtio-net with vhost-net)",
    "finding": "containers equal or beat VMs nearly everywhere; network latency is one of the places where the "
               "VM lost most, Docker's NAT adds latency over host networking: native < Docker < KVM",
    "figures": None,
}

PORT = 7070
HOST_PORT = 17071


def _sizes(plan):
    if plan.mode == "quick":
        return {"rounds": 1, "count": 2000, "warmup": 200, "mib": 64}
    return {"rounds": 3, "count": 20000, "warmup": 2000, "mib": 512}


def _client(paths, address, port, sizes):
    """Runs rr then stream against address:port; returns their result pairs."""
    figures = {}
    for mode, extra in (("rr", ["--count", str(sizes["count"]), "--warmup", str(sizes["warmup"])]),
                        ("stream", ["--mib", str(sizes["mib"])])):
        result = subprocess.run([paths.workload, mode, address, "--port", str(port), *extra], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"workload {mode} {address}: {result.stderr.strip() or result.returncode}")
        for key, value in re.findall(r"(\w+)=([0-9.]+)", result.stdout):
            if key in METRICS:
                figures[key] = float(value)
    return figures


class _Server:
    """`workload serve` for two connections in a subject; `ready` waits until it
    listens and returns what the subject printed before (its address)."""

    def __init__(self, argv):
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)

    def ready(self):
        lines = []
        for line in self.process.stdout:
            if line.startswith("workload-serving"):
                return lines
            lines.append(line)
        self.process.wait()
        raise RuntimeError(f"the server did not start: {self.process.stderr.read().strip()[-300:]}")

    def finish(self):
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.process.returncode


def _measure(name, argv, address_of, port, paths, sizes):
    server = _Server(argv)
    try:
        before = server.ready()
        address = address_of(before)
        figures = _client(paths, address, port, sizes)
    finally:
        # The server is waited for however the client ended (on Ctrl-C it got
        # the same SIGINT and removes its veth and rules); its status counts
        # only when nothing else went wrong, so that an interrupt is never
        # taken for the row's failure.
        server.process.stdout.close()
        status = server.finish()
    if status not in (0, None):
        raise RuntimeError(f"{name}: the server ended with status {status}")
    return figures


def _eth0_address(lines):
    for line in lines:
        match = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/(\d+)", line)
        if match:
            return match.group(1)
    raise RuntimeError("the container printed no eth0 address")


def _gateway_address(lines):
    # The host side of the bridge: the subnet's first address (a host address, so DNAT applies).
    for line in lines:
        match = re.search(r"default via (\d+\.\d+\.\d+\.\d+)", line)
        if match:
            return match.group(1)
    raise RuntimeError("the container printed no default route")


def local_rows(paths, plan, progress):
    sizes = _sizes(plan)
    serve = ["/usr/bin/workload", "serve", "--port", str(PORT), "--connections", "2"]
    container = [paths.vmm, "--container", paths.rootfs, "--net", "bridge"]
    show = "ip -4 -o addr show eth0; ip route; exec " + " ".join(serve)
    subjects = [
        ("local-net-host", "host (loopback)", "baseline", "host: workload serve, client to 127.0.0.1",
         [paths.workload, *serve[1:]], lambda lines: "127.0.0.1", PORT),
        ("local-net-container", "vmm --container --net bridge", "container",
         "host -> vmm0 -> veth -> the container's eth0",
         container + ["--", "/bin/sh", "-c", show], _eth0_address, PORT),
        ("local-net-container-published", "vmm --container -p (DNAT)", "container",
         "host -> the gateway address:17071 -> nftables DNAT -> veth -> eth0:7070",
         container + ["-p", f"{HOST_PORT}:{PORT}", "--", "/bin/sh", "-c", show], _gateway_address, HOST_PORT),
    ]
    samples = {subject[0]: {metric: [] for metric in METRICS} for subject in subjects}
    failures = {}
    for round_index in range(sizes["rounds"]):
        for subject_id, name, _kind, _path, argv, address_of, port in subjects:
            if subject_id in failures:
                continue
            progress(f"[local] network: {name}, round {round_index + 1}/{sizes['rounds']}")
            try:
                figures = _measure(name, argv, address_of, port, paths, sizes)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
                failures[subject_id] = str(error)
                continue
            for metric, value in figures.items():
                samples[subject_id][metric].append(value)
            time.sleep(0.2)
    rows = []
    for subject_id, name, kind, path, *_ in subjects:
        row = {"id": subject_id, "name": name, "kind": kind, "host": "local", "path": path,
               "status": "measured", "reason": None, "figures": {}}
        if subject_id in failures:
            row.update(status="failed", reason=failures[subject_id])
        else:
            row["figures"] = {metric: summarize(values) for metric, values in samples[subject_id].items() if values}
        rows.append(row)
    return rows


# The nested host (L1, under QEMU TCG): baseline, container and VM in the
# same L1, so their ratios are that host's. The VM is reached through its
# TAP on vmm0, served by vhost-net and, in a second row, by vmm's I/O thread.
NESTED_VM_ADDRESS = "10.88.0.10"
NESTED_CONTAINER_ADDRESS = "10.88.0.20"
NESTED_SUBJECTS = [
    ("nested-net-host", "L1 host (loopback)", "baseline", "L1: workload serve, client to 127.0.0.1",
     "/workload serve", "127.0.0.1"),
    ("nested-net-container", "vmm --container --net bridge", "container", "L1 -> vmm0 -> veth -> the container's eth0",
     f"/vmm --container /rootfs --net bridge --ip {NESTED_CONTAINER_ADDRESS} -- workload serve", NESTED_CONTAINER_ADDRESS),
    ("nested-net-vm", "vmm boot --net bridge (vhost-net)", "vm",
     "L1 -> vmm0 -> TAP -> vhost-net -> virtio-net eth0 of the VM",
     f"VMM_NET_BACKEND=vhost /vmm boot --mem 256M /bzImage /rootfs.ext4 --net bridge --ip {NESTED_VM_ADDRESS} -- workload serve",
     NESTED_VM_ADDRESS),
    ("nested-net-vm-user", "vmm boot --net bridge (user-space virtio-net)", "vm",
     "L1 -> vmm0 -> TAP -> vmm's I/O thread -> virtio-net eth0 of the VM",
     f"VMM_NET_BACKEND=user /vmm boot --mem 256M /bzImage /rootfs.ext4 --net bridge --ip {NESTED_VM_ADDRESS} -- workload serve",
     NESTED_VM_ADDRESS),
]


def _nested_sizes(plan):
    if plan.mode == "quick":
        return {"count": 300, "warmup": 30, "mib": 8}
    return {"count": 2000, "warmup": 200, "mib": 32}


def nested_script_lines(plan):
    """Shell lines for the L1 script: each subject serves two connections
    (rr, then stream) that L1's client makes once the server answers; one
    "compare-net ID ..." line per client."""
    sizes = _nested_sizes(plan)
    rr = f"--count {sizes['count']} --warmup {sizes['warmup']}"
    lines = [
        "# Network rows (compare_lib/network.py): wait until a server answers, then measure.",
        "ip link set lo up",
        "net_client() {",
        "    tries=0",
        f"    until result=$(/workload rr \"$2\" --port {PORT} {rr} 2>&1); do",
        "        tries=$((tries + 1)); [ \"$tries\" -ge 90 ] && break; sleep 1",
        "    done",
        "    echo \"compare-net $1 $(echo $result | tr '\\n' ' ')\"",
        "    [ \"$tries\" -lt 90 ] || return 1",
        f"    echo \"compare-net $1 $(/workload stream \"$2\" --port {PORT} --mib {sizes['mib']} 2>&1 | tr '\\n' ' ')\"",
        "}",
    ]
    for subject_id, _name, _kind, _path, server, address in NESTED_SUBJECTS:
        # A server whose client never reached it would wait for ever: it is stopped.
        lines += [f"{server} --port {PORT} --connections 2 >/tmp/{subject_id}.log 2>&1 &",
                  f"net_client {subject_id} {address} || kill $!",
                  f"wait $! || echo \"compare-net {subject_id} server-failed $(tail -n 3 /tmp/{subject_id}.log | tr '\\n' ' ')\""]
    return lines


def nested_rows(stdout, reason):
    """The nested rows from the L1 script's output (or all unavailable with `reason`)."""
    rows = []
    for subject_id, name, kind, path, _server, _address in NESTED_SUBJECTS:
        row = {"id": subject_id, "name": name, "kind": kind, "host": "nested", "path": path,
               "status": "measured", "reason": None, "figures": {}}
        text = " ".join(line for line in stdout.splitlines() if line.startswith(f"compare-net {subject_id} "))
        for key, value in re.findall(r"(\w+)=([0-9.]+)", text):
            if key in METRICS:
                row["figures"][key] = summarize([float(value)])
        if reason and not text:
            row.update(status="unavailable", reason=reason)
        elif not row["figures"] or "server-failed" in text:
            row.update(status="failed", reason=(text.replace(f"compare-net {subject_id} ", "").strip()
                                                or "no result from L1")[:300], figures={})
        rows.append(row)
    return rows


def order_verdicts(rows):
    """Per host: whether the TCP_RR medians keep native < container < VM, and by how much."""
    verdicts = {}
    for host in sorted({row["host"] for row in rows}):
        def median(kind):
            values = [row["figures"]["rr_median_us"]["median"] for row in rows
                      if row["host"] == host and row["kind"] == kind and row["status"] == "measured"
                      and "rr_median_us" in row["figures"]]
            return min(values) if values else None
        native, container, vm = median("baseline"), median("container"), median("vm")
        if native is None:
            continue
        parts = [f"native {native:.1f} µs"]
        if container is not None:
            parts.append(f"container {container:.1f} µs ({container / native:.2f}× native)")
        if vm is not None:
            parts.append(f"VM {vm:.1f} µs ({vm / native:.2f}× native)")
        known = [value for value in (native, container, vm) if value is not None]
        holds = all(earlier < later for earlier, later in zip(known, known[1:]))
        scope = "native < container < VM" if vm is not None and container is not None else \
            "native < container" if container is not None else "native < VM"
        verdict = "holds" if holds else "does not hold"
        if vm is None:
            verdict += " (no VM row on this host: the order with the VM is open here)"
        verdicts[host] = f"{scope} {verdict}: " + ", ".join(parts) + " (best median of the container rows)"
    return verdicts


def section(rows):
    return {"rows": rows, "reference": REFERENCE, "order": order_verdicts(rows)}


def validate(network, hosts, expect):
    if not expect(isinstance(network, dict) and isinstance(network.get("rows"), list), "network.rows is missing"):
        return
    for row in network["rows"]:
        name = row.get("id", "?")
        expect(row.get("host") in hosts, f"network row {name}: host {row.get('host')!r} is not in hosts")
        expect(row.get("kind") in ("baseline", "container", "vm"), f"network row {name}: kind {row.get('kind')!r}")
        expect(row.get("status") in ("measured", "unavailable", "failed"), f"network row {name}: status")
        if row.get("status") == "measured":
            expect(row.get("figures"), f"network row {name}: measured but has no figures")
        else:
            expect(isinstance(row.get("reason"), str) and row["reason"], f"network row {name}: no reason")
        for metric in row.get("figures", {}):
            expect(metric in METRICS, f"network row {name}: unknown metric {metric}")


def markdown(network):
    lines = ["", "## Network: TCP request/response and bulk throughput", "",
             "The server runs in the subject, `workload rr`/`workload stream` on the same host connect to it "
             "(1-byte ping-pong on one TCP_NODELAY connection; bulk: 128 KiB writes). Cells: median (min–max) "
             "over the rounds.", ""]
    header = ["subject", "host", "path"] + [f"{label} ({unit})" for label, unit, _ in METRICS.values()]
    rows = []
    for row in network["rows"]:
        if row["status"] == "measured":
            cells = []
            for metric in METRICS:
                figure = row["figures"].get(metric)
                cells.append("–" if not figure else f"{figure['median']:.1f}" + (
                    f" ({figure['min']:.1f}–{figure['max']:.1f})" if len(figure["samples"]) > 1 else ""))
        else:
            cells = [f"{row['status']}: {row['reason']}"] + [""] * (len(METRICS) - 1)
        rows.append([row["name"], row["host"], row["path"]] + cells)
    lines += table(header, rows)
    reference = network["reference"]
    lines += ["", f"**Published comparison.** {reference['source']}: {reference['setup']}. Finding: "
              f"{reference['finding']}."]
    if not reference.get("figures"):
        lines.append("Their absolute figures (two machines over 10 GbE) are not in this repository's references "
                     "and are not reproduced here; only the order and the ratios are comparable, since our client "
                     "and server share one host.")
    lines += ["", "**Order on our hosts (TCP_RR median):**", ""]
    for host, verdict in network["order"].items():
        lines.append(f"- {host}: {verdict}")
    if not network["order"]:
        lines.append("- no host has a measured native row")
    return lines
