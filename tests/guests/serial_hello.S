# Writes a line to the 8250 UART, then reports exit status 0 through the guest/init port.
    .code64
    .text
    .globl _start
_start:
    lea message(%rip), %rsi
    mov $0x3f8, %dx
next:
    lodsb
    test %al, %al
    jz done
    out %al, %dx
    jmp next
done:
    mov $0, %al
    out %al, $0xf4
1:  hlt
    jmp 1b
message:
    .asciz "hello from the test guest\n"
