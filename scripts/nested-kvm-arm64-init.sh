#!/bin/busybox sh
# /init of the arm64 L1 host that scripts/nested-kvm-arm64 boots: checks
# /dev/kvm (built into Debian's arm64 cloud kernel), runs /nested/command
# with its output on the console between "nested-begin" and
# "nested-status: N", and powers off.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin HOME=/ TERM=dumb
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
# Quiet from here on: the command's output is all the console carries.
echo 1 >/proc/sys/kernel/printk

if [ ! -c /dev/kvm ]; then
    echo "nested-unavailable: no /dev/kvm in L1 (is QEMU's virtualization=on honoured, and the kernel entered at EL2?)"
else
    stty -F /dev/console raw -echo 2>/dev/null
    echo "nested-begin"
    cd /
    sh /nested/command </dev/null 2>&1
    status=$?
    echo
    echo "nested-status: $status"
fi
sync
poweroff -f
sleep 1000
