#!/bin/sh
# Runs in the nested host (L1) for tests/nested/vm_network_test.cpp: a VM
# on vmm0 with vhost-net and with the user-space path in turn talks TCP to
# L1 both ways, through a published port, and to a container on the same
# bridge both ways; then a SIGKILLed VM's leftovers are swept. Prints
# "check NAME: ..." lines that the test reads. Traffic goes only between L1,
# the VM and the container, on vmm0.
set -u

# The container needs a root it can pivot_root from (not L1's initramfs)
# and cgroup2: a tmpfs root as tests/nested/container_cgroup_v2_test.cpp makes.
if [ "${VMM_NETWORK_TEST_IN_ROOT:-}" != yes ]; then
    mkdir -p /newroot && mount -t tmpfs tmpfs /newroot || exit 1
    for path in /bin /sbin /usr /lib /lib64 /etc /vmm /vmm-unpack /vmm-nft /vm_network_l1.sh /nested; do
        [ -e "$path" ] && cp -a "$path" /newroot/
    done
    mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/run /newroot/rootfs
    touch /newroot/bzImage /newroot/rootfs.ext4
    mount --bind "$(readlink -f /bzImage)" /newroot/bzImage && mount --bind "$(readlink -f /rootfs.ext4)" /newroot/rootfs.ext4 || exit 1
    mount --rbind /proc /newroot/proc && mount --rbind /sys /newroot/sys && mount --rbind /dev /newroot/dev || exit 1
    tar -xf /rootfs.tar -C /newroot/rootfs || exit 1
    VMM_NETWORK_TEST_IN_ROOT=yes exec chroot /newroot /bin/sh /vm_network_l1.sh
fi
mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && echo "+memory +pids +cpu" >/sys/fs/cgroup/cgroup.subtree_control
# L1's name servers, for the VM to be shown (no name is ever looked up):
# an IPv6 one and the search line stay out of the VM's file.
mkdir -p /etc && printf 'search example\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nnameserver 198.51.100.53\n' >/etc/resolv.conf

workload=/rootfs/usr/bin/workload
vm_address=10.88.0.10
container_address=10.88.0.20
gateway=10.88.0.1

# What each run left: TAPs, leases and vmm processes (nft is not in L1; a
# lease goes after its rules, so no lease means no rules).
leftovers() {
    echo "taps=$(ls /sys/class/net | grep -c '^vmm0a') leases=$(ls /run/vmm/network/leases/vmm0 2>/dev/null | wc -l)"
}

# Retries `workload rr ADDRESS --port PORT` until the server there answers (60 s at most).
rr_when_ready() {
    tries=0
    until output=$($workload rr "$1" --port "$2" --count 200 --warmup 20 2>&1); do
        tries=$((tries + 1))
        if [ "$tries" -ge 60 ]; then
            echo "$output"
            return 1
        fi
        sleep 1
    done
    echo "$output"
}

for backend in vhost user; do
    # L1 serves the VM's first connection; the container serves its second.
    $workload serve --port 7070 --connections 1 >/tmp/host-serve.log 2>&1 &
    host_server=$!
    /vmm --container /rootfs --net bridge --ip $container_address -- workload serve --port 7072 --connections 1 \
        >/tmp/container-serve.log 2>&1 &
    container_server=$!
    VMM_NET_BACKEND=$backend /vmm -v boot /bzImage /rootfs.ext4 --net bridge --ip $vm_address -p 18080:7071 -- sh -c \
        "echo eth0 \$(cat /sys/class/net/eth0/mtu) \$(ip -4 -o addr show eth0 | tr -s ' ' | cut -d' ' -f4);
         echo resolv \$(cat /etc/resolv.conf) \$(echo x 2>/dev/null >>/etc/resolv.conf && echo writable || echo read-only);
         echo vm-to-host \$(workload rr $gateway --port 7070 --count 200 --warmup 20 2>&1);
         echo vm-to-container \$(workload rr $container_address --port 7072 --count 200 --warmup 20 2>&1);
         exec workload serve --port 7071 --connections 3" >/tmp/vm.log 2>&1 &
    vm=$!
    echo "check $backend host-to-vm: $(rr_when_ready $vm_address 7071 | tr '\n' ' ')"
    echo "check $backend published: $($workload rr $gateway --port 18080 --count 200 --warmup 20 2>&1 | tr '\n' ' ')"
    echo "check $backend container-to-vm: $(/vmm --container /rootfs --net bridge -- workload rr $vm_address --port 7071 --count 200 --warmup 20 2>&1 | tr '\n' ' ')"
    wait $vm
    echo "check $backend vm-status: $?"
    wait $host_server
    echo "check $backend host-server-status: $?"
    wait $container_server
    echo "check $backend container-server-status: $?"
    grep -E '^(eth0|resolv|vm-to-host|vm-to-container) ' /tmp/vm.log | sed "s/^/check $backend /"
    grep -E 'frames move in' /tmp/vm.log | sed "s/^/check $backend backend: /"
    echo "check $backend leftovers: $(leftovers)"
done

# A VM and its keeper killed together (kill -9 of the process group) leave
# their lease; the next instance sweeps it.
setsid /vmm boot /bzImage /rootfs.ext4 --net bridge -p 18081:7071 -- sleep 600 >/tmp/killed.log 2>&1 &
killed=$!
tries=0
while [ "$(ls /sys/class/net | grep -c '^vmm0a')" -eq 0 ] && [ "$tries" -lt 100 ]; do
    sleep 0.2
    tries=$((tries + 1))
done
kill -9 "-$killed"
wait $killed 2>/dev/null
sleep 0.5
echo "check killed: $(leftovers)"
/vmm boot /bzImage /rootfs.ext4 --net bridge -p 18081:7071 -- true
echo "check after-sweep: status=$? $(leftovers)"

# A jailed VM with vhost-net: vhost's worker runs in the jail's cgroup, which
# vmm removes once the VM is gone, without a warning, and no cgroup stays.
/vmm boot /bzImage /rootfs.ext4 --net bridge --jail -- true 2>/tmp/jail.err
echo "check jailed: status=$? warnings=$(grep -c . /tmp/jail.err) cgroups=$(ls -d /sys/fs/cgroup/vmm-container-* 2>/dev/null | wc -l) $(leftovers)"
