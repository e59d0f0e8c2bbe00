# Sets DTR, RTS and OUT2 and enables the UART's received-data interrupt, as Linux's driver does, then
# polls the line status and echoes every byte it receives until a newline,
# and reports exit status 0.
    .code64
    .text
    .globl _start
_start:
    mov $0x3fc, %dx
    mov $0x0b, %al          # MCR: DTR, RTS (ready to receive) and OUT2 (routes the interrupt).
    out %al, %dx
    mov $0x3f9, %dx
    mov $1, %al
    out %al, %dx
wait:
    mov $0x3fd, %dx
    in %dx, %al
    test $1, %al
    jz wait
    mov $0x3f8, %dx
    in %dx, %al
    cmp $10, %al
    je done
    out %al, %dx
    jmp wait
done:
    mov $0, %al
    out %al, $0xf4
1:  hlt
    jmp 1b
