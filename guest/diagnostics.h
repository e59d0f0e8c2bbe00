/*
 * guest/init's messages: one line on stderr, as "vmm-init: ...".
 */
#pragma once

/* "vmm-init: WHAT PATH: the error in errno". */
void vmm_init_warn_errno(const char *what, const char *path);
