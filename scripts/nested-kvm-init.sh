#!/bin/busybox sh
# /init of the outer (L1) host that scripts/nested-kvm boots under QEMU's
# software emulator. It loads kvm-amd, runs the command that the host packed
# into /nested/command and reports back on the serial ports:
#   ttyS0 (console): kernel messages and "nested-..." lines for the host script,
#   ttyS1: the command's stdout, byte for byte,
#   ttyS2: the command's stderr, byte for byte.
# /nested/disks lists "SERIAL GUEST_PATH" for the large files the host
# carries on virtio disks: GUEST_PATH becomes a symlink to that disk.
# With /nested/fetch present, the files it names are written to the scratch
# disk (serial vmm-scratch) as a tar archive after the command exits.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/ TERM=dumb
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
# For programs that allocate pseudo-terminals (tmux in the terminal tests).
mkdir -p /dev/pts
mount -t devpts -o ptmxmode=0666 devpts /dev/pts

report() {
    echo "nested-$*"
}

finish() {
    sync
    poweroff -f
    # poweroff -f does not return; this only guards against it failing.
    sleep 1000
}

# overlay: vmm --container shows a rootfs directory through an overlay.
for module in irqbypass kvm kvm-amd overlay; do
    if ! insmod "/nested/modules/$module.ko"; then
        report "unavailable: insmod $module.ko failed in L1"
        finish
    fi
done
if [ ! -c /dev/kvm ]; then
    report "unavailable: no /dev/kvm in L1 after loading kvm-amd (does QEMU offer svm?)"
    finish
fi

# --network: bridge, veth, tun/vhost_net and nf_tables with NAT, in the
# order the list gives.
if [ -f /nested/network ]; then
    while read -r module; do
        insmod "/nested/modules/$module.ko" || report "error: insmod $module.ko failed in L1"
    done </nested/network
fi

# The virtio disk whose serial is $1, as /dev/vdX, once it has appeared
# (virtio-pci probes asynchronously); empty after 10 s without it.
disk_with_serial() {
    local waited=0 block
    while [ "$waited" -lt 100 ]; do
        for block in /sys/block/vd*; do
            if [ -f "$block/serial" ] && [ "$(cat "$block/serial")" = "$1" ] && [ -b "/dev/${block##*/}" ]; then
                echo "/dev/${block##*/}"
                return 0
            fi
        done
        sleep 0.1
        waited=$((waited + 1))
    done
    return 1
}

scratch_disk=
if [ -f /nested/fetch ] || [ -f /nested/disks ]; then
    for module in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do
        insmod "/nested/modules/$module.ko" || report "error: insmod $module.ko failed in L1"
    done
    if [ -f /nested/disks ]; then
        while read -r serial guest_path; do
            if disk=$(disk_with_serial "$serial"); then
                mkdir -p "$(dirname "$guest_path")"
                ln -sf "$disk" "$guest_path"
            else
                report "error: the disk carrying $guest_path did not appear in L1"
            fi
        done </nested/disks
    fi
    [ -f /nested/fetch ] && scratch_disk=$(disk_with_serial vmm-scratch)
fi

if [ -f /nested/environment ]; then
    . /nested/environment
fi

# Raw mode keeps the command's bytes as they are (no "\n" -> "\r\n").
stty -F /dev/ttyS1 raw -echo 2>/dev/null
stty -F /dev/ttyS2 raw -echo 2>/dev/null

report "begin"
cd /
sh /nested/command </dev/null >/dev/ttyS1 2>/dev/ttyS2
status=$?
report "status: $status"

if [ -f /nested/fetch ]; then
    if [ -z "$scratch_disk" ]; then
        report "error: the scratch disk did not appear; nothing fetched"
    else
        mkdir -p /tmp/fetch
        index=0
        fetched=0
        while IFS= read -r guest_path; do
            if [ -f "$guest_path" ]; then
                cp "$guest_path" "/tmp/fetch/$index" && fetched=$((fetched + 1))
            else
                report "error: --fetch: $guest_path is not a file in L1"
            fi
            index=$((index + 1))
        done </nested/fetch
        if tar -c -f "$scratch_disk" -C /tmp/fetch . && sync; then
            report "fetched: $fetched"
        else
            report "error: writing the fetched files to $scratch_disk failed (do they fit in L1's memory?)"
        fi
    fi
fi
finish
