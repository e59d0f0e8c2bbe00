# Writes to the 8250 UART without end, so that only the host can stop the VM:
# with a stdout nobody reads, vmm must still end promptly on SIGTERM.
    .code64
    .text
    .globl _start
_start:
    mov $0x3f8, %dx
    mov $'x', %al
1:  out %al, %dx
    jmp 1b
