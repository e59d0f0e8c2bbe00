"""The subjects of the comparison on this host: each one turns a command
meant for the rootfs (`/bin/true`, `/usr/bin/workload bench ...`) into the
host command that runs it, or says why this host cannot run it."""

import copy as copy_module
import json
import os
import shutil
import subprocess
import urllib.parse

from . import hostinfo

GUEST_MEMORY_MIB = 256


class Subject:
    def __init__(self, subject_id, name, kind, host, command, make_argv=None, reason=None, memory_bytes=0):
        self.id = subject_id
        self.name = name
        self.kind = kind
        self.host = host
        self.command = command
        self.make_argv = make_argv
        self.reason = reason
        # The size of the guest RAM mapping to leave out of the PSS (VMs only).
        self.memory_bytes = memory_bytes
        self.notes = []


class Paths:
    def __init__(self, build_dir, kernel=None):
        self.build_dir = os.path.abspath(build_dir)
        self.vmm = os.path.join(self.build_dir, "vmm")
        self.workload = os.path.join(self.build_dir, "guest", "workload")
        self.rootfs = os.path.join(self.build_dir, "guest", "rootfs")
        self.image = os.path.join(self.build_dir, "guest", "rootfs.ext4")
        self.kernel = os.path.abspath(kernel or os.path.join(self.build_dir, "guest", "bzImage"))

    def private_copy(self, directory):
        """Copies of the rootfs tree and image in DIRECTORY, so that the
        suite's file writes and image locks never touch the build's (which
        tests may be using at the same time)."""
        copy = copy_module.copy(self)
        copy.rootfs = os.path.join(directory, "rootfs")
        copy.image = os.path.join(directory, "rootfs.ext4")
        subprocess.run(["cp", "-a", self.rootfs, copy.rootfs], check=True)
        subprocess.run(["cp", "--sparse=always", self.image, copy.image], check=True)
        return copy

    def missing(self):
        """What the suite cannot run without, as one message (or None)."""
        needed = [(self.vmm, "vmm (cmake --build BUILD_DIR)"),
                  (self.workload, "guest/workload (cmake --build BUILD_DIR --target workload)"),
                  (os.path.join(self.rootfs, "usr", "bin", "workload"),
                   "the rootfs with /usr/bin/workload (guest/build-rootfs BUILD_DIR/guest/init BUILD_DIR)"),
                  (self.image, "the rootfs image (guest/build-rootfs)"),
                  (self.kernel, "the guest kernel (guest/build-kernel, or --kernel PATH)")]
        absent = [f"{path} ({what})" for path, what in needed if not os.path.exists(path)]
        return "missing: " + "; ".join(absent) if absent else None


def _host_paths(paths, inner):
    """The rootfs command as the host runs it directly (the baseline): the
    same busybox and workload binaries, files written into the same tree."""
    if inner == ["/bin/true"]:
        return [os.path.join(paths.rootfs, "bin", "busybox"), "true"]
    argv = [os.path.join(paths.rootfs, inner[0].lstrip("/"))] + inner[1:]
    if "--dir" in argv:
        index = argv.index("--dir") + 1
        argv[index] = os.path.join(paths.rootfs, argv[index].lstrip("/"))
    return argv


class OciBundles:
    """One OCI bundle per command over the shared rootfs, as `runc spec` writes it."""

    def __init__(self, directory, rootfs):
        self.directory = directory
        self.rootfs = rootfs
        self.bundles = {}

    def bundle_for(self, inner):
        key = tuple(inner)
        if key not in self.bundles:
            path = os.path.join(self.directory, f"bundle-{len(self.bundles)}")
            os.makedirs(path)
            subprocess.run(["runc", "spec", "--bundle", path], check=True, stdout=subprocess.DEVNULL)
            config_path = os.path.join(path, "config.json")
            with open(config_path) as file:
                config = json.load(file)
            config["root"] = {"path": self.rootfs, "readonly": False}
            config["process"]["args"] = list(inner)
            config["process"]["terminal"] = False
            config["hostname"] = "vmm"
            with open(config_path, "w") as file:
                json.dump(config, file, indent=2)
            self.bundles[key] = path
        return self.bundles[key]


# The container ids of this run's `runc run` and `crun run`, and where the
# runtimes keep their state (their default --root, as root).
OCI_IDS = {"runc": f"vmm-compare-{os.getpid()}", "crun": f"vmm-compare-crun-{os.getpid()}"}
OCI_ROOTS = {"runc": "/run/runc", "crun": "/run/crun"}


def remove_oci_containers():
    """Deletes, with --force, the runc or crun container an interrupted run
    left in the runtime's state (a `run` killed half-way through leaves one
    created, or its state directory)."""
    for runtime, container in OCI_IDS.items():
        if shutil.which(runtime) and os.path.isdir(os.path.join(OCI_ROOTS[runtime], container)):
            try:
                subprocess.run([runtime, "delete", "--force", container], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            except (OSError, subprocess.SubprocessError):
                pass


def qemu_kernel_cmdline(inner):
    words = " ".join("vmm.arg=" + urllib.parse.quote(word, safe="-_.~/=,:+@") for word in inner)
    return f"console=ttyS0 reboot=k panic=-1 quiet root=/dev/vda rw vmm.mode=vm {words}"


def local_subjects(paths, host, work_dir):
    """The subjects that run on this host, each measurable or with a reason."""
    subjects = []
    add = subjects.append
    add(Subject("local-baseline", "host (baseline)", "baseline", "local",
                "the rootfs's binaries run directly on the host", lambda inner: _host_paths(paths, inner)))

    kvm = host["kvm_kind"]
    vm_argv = lambda inner: [paths.vmm, "boot", "--timings", "--mem", f"{GUEST_MEMORY_MIB}M",  # noqa: E731
                             paths.kernel, paths.image, "--", *inner]
    vm_command = f"vmm boot --timings --mem {GUEST_MEMORY_MIB}M bzImage rootfs.ext4 -- CMD"
    if kvm in ("vmx", "svm"):
        add(Subject("local-vm", "vmm boot (microVM)", "vm", "local", vm_command, vm_argv,
                    memory_bytes=GUEST_MEMORY_MIB << 20))
    elif kvm == "pvm":
        add(Subject("local-vm", "vmm boot (microVM)", "vm", "local", vm_command,
                    reason="host /dev/kvm is PVM: guest kernel code is emulated and guest user space cannot run "
                           "(system calls fail); the VM rows come from the nested SVM host"))
    else:
        add(Subject("local-vm", "vmm boot (microVM)", "vm", "local", vm_command,
                    reason=f"no usable /dev/kvm on this host ({host['kvm']})"))

    qemu_command = "qemu-system-x86_64 -M microvm -accel kvm -kernel bzImage (virtio-blk rootfs.ext4) -append vmm.arg=CMD"
    if not hostinfo.have("qemu-system-x86_64"):
        add(Subject("local-qemu", "QEMU microvm + KVM", "vm", "local", qemu_command,
                    reason="qemu-system-x86_64 is not installed"))
    elif kvm in ("vmx", "svm"):
        def qemu_argv(inner):
            return ["qemu-system-x86_64", "-M", "microvm", "-accel", "kvm", "-cpu", "host",
                    "-m", str(GUEST_MEMORY_MIB), "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                    "-serial", "stdio", "-kernel", paths.kernel,
                    "-drive", f"id=root,file={paths.image},format=raw,if=none",
                    "-device", "virtio-blk-device,drive=root", "-append", qemu_kernel_cmdline(inner)]
        subject = Subject("local-qemu", "QEMU microvm + KVM", "vm", "local", qemu_command, qemu_argv,
                          memory_bytes=GUEST_MEMORY_MIB << 20)
        subject.notes.append("QEMU has no exit-status port: its runs count as successful when QEMU exits 0")
        add(subject)
    else:
        add(Subject("local-qemu", "QEMU microvm + KVM", "vm", "local", qemu_command,
                    reason=f"host /dev/kvm is {host['kvm']}: QEMU -accel kvm does not get a Linux guest past its "
                           "real-mode setup there (HOST-NOTES.md)" if kvm == "pvm"
                    else f"no usable /dev/kvm ({host['kvm']})"))

    # Its root's overlay is volatile (fsync there returns at once: the layer
    # goes with the container), so the bench writes into a volume of the
    # directory the baseline, runc and crun write to, as a database in a
    # container writes to its volume.
    def vmm_container_argv(inner):
        volume = [] if inner == ["/bin/true"] else ["--volume", f"{os.path.join(paths.rootfs, 'var', 'tmp')}:/var/tmp"]
        return [paths.vmm, "--container", paths.rootfs, "--timings", "--mem", "1G", "--pids", "1024", *volume, "--", *inner]
    add(Subject("local-vmm-container", "vmm --container", "container", "local",
                "vmm --container rootfs --timings --mem 1G --pids 1024 -- CMD (the bench's files in the volume "
                "--volume rootfs/var/tmp:/var/tmp, where the baseline, runc and crun write)",
                vmm_container_argv))

    if hostinfo.have("runc"):
        bundles = OciBundles(work_dir, paths.rootfs)
        add(Subject("local-runc", "runc run", "container", "local",
                    "runc run --bundle (runc spec over the same rootfs, args = CMD)",
                    lambda inner: ["runc", "run", "--bundle", bundles.bundle_for(inner), OCI_IDS["runc"]]))
    else:
        add(Subject("local-runc", "runc run", "container", "local", "runc run", reason="runc is not installed"))

    if hostinfo.have("crun"):
        crun_bundles = OciBundles(os.path.join(work_dir, "crun"), paths.rootfs)
        crun_argv = lambda inner: ["crun", "run", "--bundle", crun_bundles.bundle_for(inner),  # noqa: E731
                                   OCI_IDS["crun"]]
        probe = subprocess.run(crun_argv(["/bin/true"]), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=30)
        if probe.returncode == 0:
            add(Subject("local-crun", "crun run", "container", "local", "crun run --bundle (same bundle as runc)",
                        crun_argv))
        else:
            error = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
            add(Subject("local-crun", "crun run", "container", "local", "crun run --bundle",
                        reason=f"crun refuses this host: {error}"))
    else:
        add(Subject("local-crun", "crun run", "container", "local", "crun run", reason="crun is not installed"))

    bwrap_prefix = ["bwrap", "--unshare-all", "--bind", paths.rootfs, "/", "--proc", "/proc", "--dev", "/dev"]
    if hostinfo.have("bwrap"):
        add(Subject("local-bwrap", "bwrap --unshare-all", "container", "local",
                    "bwrap --unshare-all --bind rootfs / --proc /proc --dev /dev CMD",
                    lambda inner: bwrap_prefix + list(inner)))
    else:
        add(Subject("local-bwrap", "bwrap --unshare-all", "container", "local", "bwrap", reason="bwrap is not installed"))
    return subjects
