#pragma once

#include "common/Terminal.h"
#include "vmm/machine/BootOptions.h"
#include "vmm/machine/HostDetection.h"

#include <optional>
#include <string>
#include <vector>

namespace vmm {

// Who mounts the root disk (/dev/vda).
enum class RootMount {
    None,   // No disk.
    Kernel, // root=/dev/vda: the kernel mounts it and runs its /sbin/init (with --initrd: the initrd's /init).
    Init,   // vmm's initramfs: guest/init mounts it (vmm.root=) and switches to it.
};

// What guest/init sets on eth0 (vmm.ip=, vmm.gw=, vmm.mtu=) and the name
// servers it shows read-only at /etc/resolv.conf (vmm.dns=).
struct GuestNetwork {
    std::string address; // "ADDRESS/PREFIX"
    std::string gateway; // Empty: no default route.
    uint16_t mtu { 1500 };
    std::vector<std::string> name_servers; // IPv4; empty: the tree keeps its own resolv.conf.
};

// What one of vmm's standard streams is: guest/init sets the console up to match.
enum class HostStream {
    Terminal,
    Data, // A pipe, a file or /dev/null: the console carries bytes, not typing (guest/protocol.h).
};

struct CmdlineInputs {
    std::string platform_options;             // The architecture's first options (arch::kernel_cmdline_defaults()).
    ConsoleKind console { ConsoleKind::Serial };
    HostKind host { HostKind::HardwareVirtualization };
    RootMount root_mount { RootMount::None };
    DiskAccess root_access { DiskAccess::ReadWrite };
    std::optional<WindowSize> window_size;    // The host terminal's, for the guest's console.
    HostStream input { HostStream::Terminal };
    HostStream output { HostStream::Terminal };
    std::vector<std::string> virtio_devices; // "virtio_mmio.device=4K@0x...:N" words.
    std::optional<GuestNetwork> network;
    std::string extra;                        // --cmdline, last so that it wins.
    std::vector<std::string> command;         // Passed to guest/init as vmm.arg= words.
    CommandSettings command_settings;         // vmm.user=, vmm.workdir= and vmm.env= words.
    std::string hostname;                     // vmm.hostname=; empty: the tree's /etc/hostname.
};

// The options the kernel needs on a PVM host (shared HOST-NOTES.md): no
// XSAVE, and CPU features hidden that the instruction emulator cannot run.
extern char const* const pvm_cmdline_options;

// Builds the guest kernel command line. Throws an Error when it exceeds
// `limit` bytes (the kernel's cmdline_size), naming the length.
std::string build_kernel_cmdline(CmdlineInputs const& inputs, size_t limit);

}
