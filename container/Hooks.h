#pragma once

#include "container/ContainerSpec.h"

#include <string>
#include <string_view>
#include <vector>

namespace vmm::container {

// Runs each hook in order (path, args, env as given), with the container's
// state JSON on its stdin, and waits for it (killing it past its timeout).
// The first that fails throws an Error naming the phase and the hook.
void run_hooks(std::vector<HookSpec> const& hooks, std::string_view phase, std::string const& state);

}
