# Entry of the guest-mode virtio-blk benchmark driver. vmm enters here in
# 64-bit mode at CPL0 with an identity map that user mode may not use; this
# builds one that it may (4 GiB in 2 MiB pages with the user bit, so the
# driver reaches RAM and the virtio-mmio window), loads a GDT with user
# segments and drops to CPL3 with IOPL 3 (port I/O for the console) and
# interrupts off. On a PVM host CPL3 code runs natively; CPL0 is emulated.
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    # Page tables at 2 MiB: PML4, one PDPT, four page directories.
    mov $0x200000, %rdi
    xor %eax, %eax
    mov $(6 * 4096 / 8), %ecx
    rep stosq
    movq $(0x201000 | 7), 0x200000
    mov $0, %rcx
1:  mov %rcx, %rax
    shl $12, %rax
    add $(0x202000 | 7), %rax
    mov %rax, 0x201000(,%rcx,8)
    inc %rcx
    cmp $4, %rcx
    jne 1b
    xor %rcx, %rcx
2:  mov %rcx, %rax
    shl $21, %rax
    or $0x87, %rax                  # Present, writable, user, 2 MiB page.
    mov %rax, 0x202000(,%rcx,8)
    inc %rcx
    cmp $2048, %rcx
    jne 2b
    mov $0x200000, %rax
    mov %rax, %cr3

    lgdt gdt_pointer(%rip)
    # iretq to CPL3: SS, RSP, RFLAGS (IOPL 3, IF 0), CS, RIP.
    pushq $0x1b
    pushq $0x1ff000
    pushq $0x3002
    pushq $0x23
    lea user_entry(%rip), %rax
    push %rax
    iretq

user_entry:
    mov $0x1b, %ax
    mov %ax, %ds
    mov %ax, %es
    call driver_main
    # driver_main reports through the exit-status port; never reached.
3:  jmp 3b

    .balign 8
gdt:
    .quad 0
    .quad 0x00af9b000000ffff        # 0x08: kernel code, 64-bit.
    .quad 0x00cf93000000ffff        # 0x10: kernel data.
    .quad 0x00cff3000000ffff        # 0x18: user data (DPL 3).
    .quad 0x00affb000000ffff        # 0x20: user code, 64-bit (DPL 3).
gdt_end:
gdt_pointer:
    .word gdt_end - gdt - 1
    .quad gdt

    .section .note.GNU-stack, "", @progbits
