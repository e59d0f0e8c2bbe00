#pragma once

#include "common/CommandSettings.h"
#include "common/MappedRegion.h"
#include "vmm/arch/Architecture.h"
#include "vmm/devices/virtio/DiskOptions.h"
#include "vmm/devices/virtio/NetOptions.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vmm {

enum class ConsoleKind {
    Serial,  // console=ttyS0 on the 8250 UART.
    Virtio,  // console=hvc0 on virtio-console; the UART keeps early boot messages.
};

struct BootOptions {
    std::string kernel;                 // A bzImage or arm64 Image, or a vmm test guest (arch::test_guest_magic).
    std::vector<DiskOptions> disks;     // The first one is the root filesystem (/dev/vda).
    std::string initrd;                 // Optional.
    uint64_t memory_size { 512ull << 20 };
    HugePages huge_pages { HugePages::Transparent }; // Yes: 2 MiB pages from the host's pool (--hugepages).
    uint32_t cpus { 1 };
    std::string extra_cmdline;          // Appended to the default kernel command line.
    ConsoleKind console { ConsoleKind::Serial };
    bool print_timings { false };
    std::string device_tree_dump;       // --dump-dtb: where to write the guest's device tree (aarch64).
    std::vector<std::string> command;   // Run by guest/init; empty: an interactive shell.
    CommandSettings command_settings;   // -e, -w and -u, which guest/init applies.
    std::string hostname;               // --hostname; empty: the tree's /etc/hostname.
    std::optional<NetOptions> network;  // None: no network device (--net none).
};

// Parses "PATH[,ro]" as given to --disk (or to `option`: ROOTFS of vmm boot
// and vmm --container takes the same form). Throws a UsageError, naming
// `option`, on an unknown access or no path.
DiskOptions parse_disk_option(std::string const& text, std::string_view option = "--disk");

}
