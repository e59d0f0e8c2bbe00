# Spins forever, so that only the host can stop the VM.
    .code64
    .text
    .globl _start
_start:
    pause
    jmp _start
