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

# --network: bridge, veth, tun/vhost_net and nf_tables with NAT, in the
# order the list gives.
if [ -f /nested/network ]; then
    while read -r module; do
        insmod "/nested/modules/$module.ko" 2>/dev/null || echo "nested-kvm-arm64: insmod $module.ko failed in L1" >>/tmp/insmod-errors
    done </nested/network
fi

if [ ! -c /dev/kvm ]; then
    echo "nested-unavailable: no /dev/kvm in L1 (is QEMU's virtualization=on honoured, and the kernel entered at EL2?)"
else
    stty -F /dev/console raw -echo 2>/dev/null
    echo "nested-begin"
    # Shown with the command's output, where the caller sees it.
    [ -f /tmp/insmod-errors ] && cat /tmp/insmod-errors
    cd /
    sh /nested/command </dev/null 2>&1
    status=$?
    echo
    echo "nested-status: $status"
fi
sync
poweroff -f
sleep 1000
