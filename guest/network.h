/*
 * guest/init's network set-up in the VM: the interface vmm gave the guest
 * (eth0, virtio-net) gets the address, route and MTU from the kernel
 * command line, as the container's eth0 gets them from the runtime.
 */
#pragma once

#include "guest/protocol.h"

/* Sets VMM_GUEST_INTERFACE's MTU, address and netmask, brings it up and adds
 * the default route. Returns 0, or -1 after printing what failed. Does
 * nothing without network->configured. */
int vmm_configure_network(const struct vmm_guest_network *network);

/* Shows network->name_servers read-only at /etc/resolv.conf, as a bridged
 * container sees the host's: a file on a small tmpfs of its own, bound
 * over the tree's file, so that the root disk is never written (it may be
 * read-only, or someone else's image). A tree without a regular
 * /etc/resolv.conf (none, or a symlink into /run) is left alone. Returns 0,
 * or -1 after printing what failed. */
int vmm_show_name_servers(const struct vmm_guest_network *network);
