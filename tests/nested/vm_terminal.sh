#!/bin/sh
# Run inside the nested SVM host (scripts/nested-kvm, with tmux packed by
# --program): drives `vmm boot` through tmux like a person at a terminal, and
# through pipes and files, and prints one line per check, "check NAME ok" or
# "check NAME FAIL" followed by the screen or the output. Everything runs in
# one outer boot, since each one costs seconds under QEMU's emulator.
# tests/nested/vm_terminal_test.cpp asserts on the lines.
vmm="/vmm boot /bzImage /rootfs.ext4"
began=$(date +%s)
tmux="tmux -L vmm-terminal -f /dev/null"
state=/tmp/vm-terminal
mkdir -p $state

screen() { $tmux capture-pane -p -t vm; }

# wait_for TEXT TENTHS: whether TEXT is on the screen within TENTHS/10 s.
wait_for() {
    waited=0
    while [ "$waited" -lt "$2" ]; do
        screen | grep -qF -- "$1" && return 0
        sleep 0.1
        waited=$((waited + 1))
    done
    return 1
}

check() {
    name=$1
    shift
    if "$@"; then
        echo "check $name ok at $(( $(date +%s) - began )) s"
        return 0
    fi
    echo "check $name FAIL at $(( $(date +%s) - began )) s"
    screen 2>/dev/null | sed 's/^/    screen: /'
    return 1
}

# start_vmm ARGUMENTS: vmm in a 100x30 window, between two `stty -g`, its
# exit status kept, then a line that says it is over.
start_vmm() {
    rm -f $state/*
    $tmux kill-server 2>/dev/null
    $tmux new-session -d -s vm -x 100 -y 30 \
        "stty -g > $state/before; $vmm $*; echo \$? > $state/status; stty -g > $state/after; echo vmm-finished; sleep 600"
}

# tmux needs a UTF-8 locale (C.UTF-8's LC_CTYPE, packed by the test) and /dev/pts.
if ! $tmux new-session -d -s probe true; then
    echo "check tmux FAIL"
    exit 1
fi

# bounded COMMAND...: COMMAND (a vmm that reads the caller's stdin) with a
# deadline of run_limit seconds. Past it, where each of vmm's threads waits
# (their kernel stacks in L1) goes to the script's stderr and vmm is killed:
# a hang fails its check with that record instead of the whole outer boot.
run_limit=120
exec 4>&2
bounded() {
    exec 3<&0
    "$@" <&3 3<&- &
    pid=$!
    exec 3<&-
    (
        sleep $run_limit
        kill -0 $pid 2>/dev/null || exit 0
        echo "hung for $run_limit s: $*"
        for task in /proc/$pid/task/*; do
            echo "  thread $(cat $task/comm) waits in $(cat $task/wchan):"
            sed 's/^/    /' $task/stack
        done
        # What the guest printed last (its console is vmm's stdout): a
        # kernel's stall report, say.
        echo "  the end of vmm's output so far:"
        tail -c 1500 /proc/$pid/fd/1 | cat -v | sed 's/^/    /'
        kill -9 $pid
    ) >&4 2>&1 &
    watcher=$!
    wait $pid
    status=$?
    kill $watcher 2>/dev/null
    return $status
}

same_terminal_mode() { [ -s $state/before ] && cmp -s $state/before $state/after; }
status_is() { [ "$(cat $state/status 2>/dev/null)" = "$1" ]; }

# The interactive shell on CONSOLE (serial: ttyS0, virtio: hvc0).
interactive() {
    console=$1
    device=$2
    start_vmm --console "$console"
    # Nothing else can pass without a prompt: no waiting for each.
    check "$console-prompt" wait_for "/ #" 600 || return
    $tmux send-keys -t vm 'echo typed-$((6*7)); tty' Enter
    check "$console-typed" wait_for "typed-42" 100
    check "$console-tty" wait_for "$device" 20
    $tmux send-keys -t vm 'stty size' Enter
    check "$console-size" wait_for "30 100" 100
    if [ "$console" = virtio ]; then
        # hvc0 follows the window (VIRTIO_CONSOLE_F_SIZE); ttyS0 keeps its boot size.
        $tmux resize-window -t vm -x 80 -y 20
        sleep 0.5
        $tmux send-keys -t vm 'clear; stty size' Enter
        check "$console-resized" wait_for "20 80" 100
    fi
    $tmux send-keys -t vm 'sleep 20' Enter
    sleep 0.5
    $tmux send-keys -t vm C-c
    $tmux send-keys -t vm 'echo still-$((1+1))-here' Enter
    check "$console-interrupt" wait_for "still-2-here" 20
    if [ "$console" = virtio ]; then
        # The escape, as in QEMU and kvmtool.
        $tmux send-keys -t vm C-a x
        check "$console-escape" wait_for "vmm-finished" 100
        check "$console-escape-status" status_is 130
    else
        $tmux send-keys -t vm 'exit 3' Enter
        check "$console-exit" wait_for "vmm-finished" 100
        check "$console-exit-status" status_is 3
    fi
    check "$console-terminal-restored" same_terminal_mode
}

interactive serial /dev/ttyS0
interactive virtio /dev/hvc0

# Ctrl-S stops the console before the command writes its last line; the
# command exits while that line waits in the tty, and Ctrl-Q comes seconds
# later: guest/init waits for the console rather than report (and lose the
# line). Ctrl-S goes once the guest is up, when vmm has the terminal raw
# (earlier, the window's own terminal would take it).
start_vmm -- sh -c "'echo started; sleep 3; echo tail-line'"
check held-output-started wait_for started 600
$tmux send-keys -t vm C-s
stopped=$(date +%s)
sleep 8
not_shown() { ! screen | grep -q "$1"; }
check held-output-not-shown-yet not_shown tail-line
$tmux send-keys -t vm C-q
check held-output-delivered wait_for "tail-line" 100
check held-output-finished wait_for "vmm-finished" 100
check held-output-status status_is 0
check held-output-waited [ $(( $(date +%s) - stopped )) -ge 8 ]
$tmux kill-server

# Pipes and files: the command reads the input and its end; the output is
# exactly the command's, byte for byte (no boot marker, no "\r\n").
# output_is FORMAT: whether the output is exactly what printf FORMAT prints.
output_is() {
    printf "$1" > $state/expected
    cmp -s $state/output $state/expected && return 0
    od -c $state/output | head -n 5 | sed 's/^/    output: /'
    return 1
}
# Random bytes, control characters and NULs among them. The 8250 takes two
# exits per byte, which under QEMU's emulator keeps the guest in its
# interrupt handler long enough for the kernel to report an RCU stall on the
# console at 64 KiB. With 16 KiB the whole nested host froze in 6 of 19
# runs on a faster development host (no line from L1's kernel or from this
# script's watchdog for minutes, QEMU nearly idle), always in this step:
# ttyS0 gets 4 KiB, which still holds every byte value (1 freeze in 15 runs;
# vm_terminal_test.cpp boots once more after one).
head -c 65536 /dev/urandom > $state/random-virtio
head -c 4096 $state/random-virtio > $state/random-serial
for console in serial virtio; do
    sum=$(md5sum < $state/random-$console | cut -d' ' -f1)
    printf 'a\nb\n' | bounded $vmm --console $console -- wc -l > $state/output 2>&1
    check "$console-pipe-wc" output_is '2\n'
    printf 'no newline at the end' | bounded $vmm --console $console -- cat > $state/output 2>&1
    check "$console-pipe-last-line" output_is 'no newline at the end'
    bounded $vmm --console $console -- md5sum < $state/random-$console > $state/output 2>&1
    check "$console-file-binary" output_is "$sum  -\\n"
    bounded $vmm --console $console -- sh -c 'printf "x\ty\r\n\001z\n"; echo done' < /dev/null > $state/output 2>&1
    check "$console-byte-exact" output_is 'x\ty\r\n\001z\ndone\n'
done
