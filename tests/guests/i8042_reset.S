# Asks the keyboard controller to pulse the reset line, as Linux's reboot=k does.
    .code64
    .text
    .globl _start
_start:
    mov $0xfe, %al
    out %al, $0x64
1:  hlt
    jmp 1b
