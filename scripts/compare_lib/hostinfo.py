"""What kind of host this is: hardware virtualization, PVM, an emulator, cgroups."""

import os
import platform
import shutil
import subprocess


def _read(path, default=""):
    try:
        with open(path) as file:
            return file.read()
    except OSError:
        return default


def cpu_flags():
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_model():
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return "unknown"


def kvm_kind(vmm):
    """"absent", "pvm", "vmx" or "svm", as `vmm host-kind` (machine/HostDetection.cpp) tells it:
    vmm decides how to boot from the same answer."""
    try:
        answer = subprocess.run([vmm, "host-kind"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"
    kind = answer.stdout.strip()
    return kind if answer.returncode == 0 and kind in ("absent", "pvm", "vmx", "svm") else "unknown"


def cgroup_version():
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "v2"
    if os.path.isdir("/sys/fs/cgroup/unified"):
        return "v1 (hybrid: a v2 hierarchy at /sys/fs/cgroup/unified)"
    if os.path.isdir("/sys/fs/cgroup/memory"):
        return "v1"
    return "none mounted"


def local_host(vmm):
    """This host, with `vmm` (the binary) asked what its /dev/kvm is."""
    flags = cpu_flags()
    model = cpu_model()
    virtualization = "vmx" if "vmx" in flags else "svm" if "svm" in flags else "none"
    kvm = kvm_kind(vmm)
    vendor = _read("/sys/class/dmi/id/sys_vendor").strip()
    product = _read("/sys/class/dmi/id/product_name").strip()
    # QEMU's software emulator names its CPUs "QEMU Virtual CPU" unless told
    # otherwise; a TCG guest also lacks the hypervisor's paravirtual clock.
    emulated = "QEMU Virtual CPU" in model or ("hypervisor" in flags and "kvm-clock" not in
                                              _read("/sys/devices/system/clocksource/clocksource0/available_clocksource")
                                              and vendor == "QEMU")
    notes = []
    if "hypervisor" in flags:
        notes.append(f"runs under a hypervisor (cpuinfo 'hypervisor' flag; DMI: {vendor or '?'} {product or ''})".strip())
    kvm_text = {"absent": "absent", "pvm": "PVM (software-assisted: kvm_pvm, or no VMX/SVM flag)", "vmx": "VMX (kvm_intel)",
                "svm": "SVM (kvm_amd)"}.get(kvm, f"present ({kvm})")
    return {
        "name": f"this host ({platform.node()})",
        "short_name": "this host" + {"pvm": ", PVM /dev/kvm", "absent": ", no /dev/kvm"}.get(kvm, f", {kvm.upper()} KVM"),
        "kernel": platform.release(),
        "cpu": model,
        "cpu_virtualization": virtualization,
        "kvm": kvm_text,
        "kvm_kind": kvm,
        "nested_in_emulator": bool(emulated),
        "cgroup": cgroup_version(),
        "cpus": os.cpu_count() or 0,
        "notes": notes,
    }


def nested_host(described):
    """The nested SVM host (L1) from its `compare-host` lines."""
    notes = ["every instruction of L1 and of its guests is emulated by QEMU TCG: compare rows of this host "
             "with each other only"]
    if described.get("disk"):
        notes.append(f"files: the bench directory of the baseline and of vmm --container (a volume) and vmm "
                     f"--container's writable layers on {described['disk']}; the VM writes through ext4 in its own "
                     f"copy of the image in L1 RAM")
    return {
        "name": "nested SVM KVM host (L1) under QEMU TCG, by scripts/nested-kvm",
        "short_name": "nested SVM host (L1, QEMU TCG)",
        "kernel": described.get("kernel", "unknown"),
        "cpu": described.get("cpu", "unknown") + " (emulated by QEMU TCG)",
        "cpu_virtualization": "svm" if described.get("svm") == "yes" else "none",
        "kvm": "SVM (kvm_amd)" if described.get("kvm") == "yes" else "absent",
        "kvm_kind": "svm" if described.get("kvm") == "yes" else "absent",
        "nested_in_emulator": True,
        "cgroup": described.get("cgroup", "unknown"),
        "cpus": int(described.get("cpus", "1") or 1),
        "notes": notes,
    }


def have(program):
    return shutil.which(program) is not None
