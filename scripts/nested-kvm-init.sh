#!/bin/busybox sh
# /init of the outer (L1) host that scripts/nested-kvm boots under QEMU's
# software emulator. It loads kvm-amd, runs the command that the host packed
# into /nested/command and reports back on the serial ports:
#   ttyS0 (console): kernel messages and "nested-..." lines for the host script,
#   ttyS1: the command's stdout, byte for byte,
#   ttyS2: the command's stderr, byte for byte.
# With /nested/fetch present, the files it names are written to the scratch
# disk (/dev/vda) as a tar archive after the command exits.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/ TERM=dumb
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp

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

if [ -f /nested/fetch ]; then
    for module in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do
        insmod "/nested/modules/$module.ko" || report "error: insmod $module.ko failed in L1"
    done
    # The scratch disk appears asynchronously once virtio-pci has probed it.
    waited=0
    while [ ! -b /dev/vda ] && [ "$waited" -lt 100 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
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
    if [ ! -b /dev/vda ]; then
        report "error: the scratch disk /dev/vda did not appear; nothing fetched"
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
        if tar -c -f /dev/vda -C /tmp/fetch . && sync; then
            report "fetched: $fetched"
        else
            report "error: writing the fetched files to /dev/vda failed"
        fi
    fi
fi
finish
