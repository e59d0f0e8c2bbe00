/*
 * guest/init's command (guest/command.c).
 */
#pragma once

#include "guest/user.h"

/* Init's own signal handling, set before the command starts: the signals
 * for the command (every one a program can catch but init's own) are
 * blocked, to be passed on by vmm_run_command, and the terminal's stop
 * signals are ignored. The command starts with the defaults. */
void vmm_handle_signals_for_command(void);

/* Starts the command (in the foreground of init's terminal with
 * `job_control`; as `user` where that is not NULL), reaps every process
 * until the command ends and returns its exit status: 127 or 126 when it
 * could not be executed, 125 when it could not become `user`. */
int vmm_run_command(char **arguments, int job_control, const struct vmm_command_user *user);
