# Writes 512 KiB to the 8250 as a driver with CTS flow control does: before
# each burst of 16 bytes (the FIFO's size) it waits for CTS, so that a host
# whose stdout is read slowly holds it back instead of dropping output.
# Byte n is n mod 251, so that a lost or repeated span shows. Then it
# reports exit status 0 through the port guest/init uses, after the boot marker.
    .code64
    .text
    .globl _start
    .set total, 512 * 1024
_start:
    mov $1, %al
    out %al, $0xf5
    xor %ebx, %ebx              # Bytes sent.
    xor %esi, %esi              # The next byte.
1:  mov $0x3fe, %dx             # MSR.
2:  in %dx, %al
    test $0x10, %al             # CTS.
    jnz 3f
    pause
    jmp 2b
3:  mov $0x3f8, %dx             # THR.
    mov $16, %ecx
4:  mov %esi, %eax
    out %al, %dx
    inc %esi
    cmp $251, %esi
    jne 5f
    xor %esi, %esi
5:  inc %ebx
    dec %ecx
    jnz 4b
    cmp $total, %ebx
    jb 1b
    xor %al, %al
    out %al, $0xf4
6:  hlt
    jmp 6b
