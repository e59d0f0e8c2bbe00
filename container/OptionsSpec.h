#pragma once

#include "container/Container.h"
#include "container/ContainerSpec.h"

#include <span>
#include <string>

namespace vmm::container {

// The spec of `vmm --container ROOTFS [flags] [-- CMD...]`: the rootfs as a
// layered root (overlay, ext4 image or tar), vmm's init as PID 1 running
// CMD (or the tree's shell), the default mounts, devices, masked paths,
// capabilities and seccomp profile, the flags' limits, and a user
// namespace for --rootless or an unprivileged caller. Throws for a flag
// value the engine cannot take ("--mem: ... below the minimum").
ContainerSpec spec_from_options(ContainerOptions const& options);

// The first of `candidates` (resolv.conf files) that a container behind the
// bridge's NAT can use, as Docker chooses it: one that names a name server
// and no loopback one (a local stub such as systemd-resolved's 127.0.0.53
// is not reachable from the container's network namespace). "" if none is:
// the tree keeps its own /etc/resolv.conf.
std::string usable_resolver_configuration(std::span<std::string const> candidates);

}
