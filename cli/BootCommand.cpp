#include "cli/BootCommand.h"

#include "cli/Options.h"
#include "common/Size.h"
#include "vmm/machine/Machine.h"
#include "vmm/machine/RootDisk.h"
#include "vmm/sandbox/Jail.h"

#include <optional>

namespace vmm::cli {

BootCommand::BootCommand(CLI::App& app)
    : m_subcommand(app.add_subcommand("boot", "Boot a Linux bzImage with ROOTFS as /dev/vda: vmm boot BZIMAGE ROOTFS [options] [-- CMD...]"))
{
    auto& boot = *m_subcommand;
    boot.add_option("bzimage", m_options.kernel, "The guest kernel (bzImage)")->required();
    boot.add_option("rootfs", m_rootfs, "The root filesystem (/dev/vda): an ext4 image, a directory or a tar archive, PATH[,ro]")->required();
    boot.add_option("--disk", m_extra_disks, "Another disk image, PATH[,ro] (may repeat)");
    boot.add_option("--initrd", m_options.initrd, "An initramfs to load");
    boot.add_option("--mem", m_memory, "Guest RAM (default 512M)");
    boot.add_option("--cpus", m_cpus, "vCPUs (default 1)");
    boot.add_option("--cmdline", m_options.extra_cmdline, "Appended to the default kernel command line");
    boot.add_option("--console", m_console, "serial (ttyS0) or virtio (hvc0)")->check(CLI::IsMember({ "serial", "virtio" }))->capture_default_str();
    boot.add_flag("--timings", m_options.print_timings, "Print start-up timings on exit");
    boot.add_flag("--hugepages", m_huge_pages, "Back guest RAM with 2 MiB huge pages (from /proc/sys/vm/nr_hugepages)");
    boot.add_flag("--jail", m_jail, "Run the VMM in new namespaces with only its kernel, initrd, disks and /dev/kvm (root)");
    // For the project's tests: a few instructions of raw 64-bit code instead of a bzImage.
    boot.add_flag("--test-guest", m_flat_binary, "Load BZIMAGE as a flat 64-bit test binary")->group("");
}

int BootCommand::run(std::vector<std::string> command)
{
    // A directory becomes an ext4 image (cached); the guest writes to a private copy.
    std::optional<RootDisk> root_disk;
    if (m_flat_binary) {
        m_options.disks.push_back(parse_disk_option(m_rootfs));
    } else {
        root_disk.emplace(RootDisk::prepare(parse_disk_option(m_rootfs), command.empty() ? CommandGiven::No : CommandGiven::Yes,
            m_jail ? PrivateCopy::Named : PrivateCopy::Unnamed));
        m_options.disks.push_back(root_disk->disk());
    }
    for (auto const& disk : m_extra_disks)
        m_options.disks.push_back(parse_disk_option(disk));
    if (!m_memory.empty())
        m_options.memory_size = parse_size(m_memory, "--mem");
    if (!m_cpus.empty())
        m_options.cpus = parse_vcpu_count(m_cpus);
    m_options.console = m_console == "virtio" ? ConsoleKind::Virtio : ConsoleKind::Serial;
    m_options.command = std::move(command);
    if (m_huge_pages)
        m_options.huge_pages = HugePages::Yes;
    if (m_flat_binary)
        m_options.kernel_format = KernelFormat::FlatBinary;
    if (m_jail) {
        // The parent waits for the jailed VMM; the child boots with the jail's paths.
        if (auto const status = sandbox::enter_jail(m_options))
            return *status;
        // The jailed child, confined: the parent removes the private copy.
        if (root_disk)
            root_disk->leave_private_copy_to_parent();
    }
    return boot(m_options);
}

}
