#pragma once

#include "container/Container.h"
#include "container/ContainerSpec.h"

#include <string_view>

namespace vmm::container {

// The spec of `vmm --container ROOTFS [flags] [-- CMD...]`: the rootfs as a
// layered root (overlay, ext4 image or tar), vmm's init as PID 1 running
// CMD (or the tree's shell), the default mounts, devices, masked paths,
// capabilities and seccomp profile, the flags' limits, and a user
// namespace for --rootless or an unprivileged caller. Throws for a flag
// value the engine cannot take ("--mem: ... below the minimum").
ContainerSpec spec_from_options(ContainerOptions const& options);

// Parses --volume's HOST_PATH:PATH[:ro|rw]. HOST_PATH must exist (relative
// to the working directory where it starts with ./ or ../); PATH must be
// absolute and not the root. Throws with one line naming the value.
Volume parse_volume(std::string_view text);

}
