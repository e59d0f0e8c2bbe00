#pragma once

#include "machine/BootOptions.h"

namespace vmm {

// Boots the guest described by `options` and runs it until it reports an exit
// status, resets, or vmm is told to stop. Returns vmm's exit status: the guest
// command's status, or 0 for a reset with no command. Throws an Error for bad
// input or a failure of the host.
int boot(BootOptions const& options);

}
