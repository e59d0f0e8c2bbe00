#include "guest/diagnostics.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void vmm_init_warn_errno(const char *what, const char *path)
{
    fprintf(stderr, "vmm-init: %s %s: %s\n", what, path, strerror(errno));
}
