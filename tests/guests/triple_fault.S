# Loads an empty IDT and raises an exception: with nowhere to deliver it,
# nor the double fault that follows, the CPU shuts down (a triple fault).
    .code64
    .text
    .globl _start
_start:
    lidt empty_idt(%rip)
    ud2
1:  hlt
    jmp 1b
empty_idt:
    .word 0
    .quad 0
