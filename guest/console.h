/*
 * guest/init's console (guest/console.c).
 */
#pragma once

#include "guest/protocol.h"

/* Makes the console init's controlling terminal in the VM; returns whether
 * init's session has it, that is whether there is job control to set up. */
int vmm_take_console(int is_vm);

/* In the VM: fds 0-2 reopened on the console's own device (ttyS0, hvc0). */
void vmm_reopen_console_device(void);

/* In the VM: the host terminal's size and the data modes vmm asked for. */
void vmm_set_up_vm_console(const struct vmm_guest_command *command);

/* In the VM, for a shell started without a command on piped input: its
 * stdin becomes a pipe that a child of init fills from the console until
 * the input ends, so that the shell, not reading a terminal, is not
 * interactive. Returns 0, or -1 (a warning printed) with stdin unchanged. */
int vmm_pipe_console_input(void);

/* Waits until the console has sent what was written to `fd`, or stalled. */
void vmm_drain_console(int fd);
