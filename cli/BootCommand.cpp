#include "cli/BootCommand.h"

#include "cli/BootNetwork.h"
#include "cli/Options.h"
#include "common/Error.h"
#include "vmm/devices/virtio/BlockDevice.h"
#include "vmm/machine/Machine.h"
#include "vmm/machine/RootDisk.h"
#include "vmm/machine/Jail.h"

#include <fmt/format.h>
#include <optional>
#include <sys/stat.h>
#include <utility>

namespace vmm::cli {

BootCommand::BootCommand(CLI::App& app)
    : m_subcommand(app.add_subcommand("boot", "Boot a Linux bzImage with ROOTFS as /dev/vda: vmm boot BZIMAGE ROOTFS [options] [-- CMD...]"))
{
    auto& boot = *m_subcommand;
    boot.add_option("kernel", m_options.kernel, "The guest kernel (a bzImage on x86_64, an arm64 Image on aarch64), or a vmm test guest")->required();
    boot.add_option("rootfs", m_rootfs, "The root filesystem (/dev/vda): an ext4 image, a directory or a tar archive, PATH[,ro]");
    boot.add_option("--disk", m_extra_disks, "Another disk image, PATH[,ro] (may repeat)");
    boot.add_option("--blk-poll-us", m_block_poll_us,
            fmt::format("After each disk request, poll the queue for up to this many microseconds before sleeping (0 to {}; default 0, off)", max_block_poll_us))
        ->check(CLI::Range(0u, max_block_poll_us));
    boot.add_option("--blk-queues", m_block_queues,
            fmt::format("Queues per disk (1 to {}; default: one per vCPU, at most {})", virtio::BlockDevice::max_queue_count, virtio::BlockDevice::max_queue_count))
        ->check(CLI::Range(1u, uint32_t(virtio::BlockDevice::max_queue_count)));
    boot.add_option("--initrd", m_initrd, "An initramfs to load");
    boot.add_option("--mem", m_memory, "Guest RAM (default 512M)");
    boot.add_option("--cpus", m_cpus, "vCPUs (default 1)");
    boot.add_option("-e,--env", m_environment, "KEY=VALUE, an environment variable of the guest command, or KEY for vmm's own value (may repeat)");
    boot.add_option("-u,--user", m_user, "USER[:GROUP] (names in the rootfs's /etc/passwd and /etc/group, or numbers) to run the guest command as");
    boot.add_option("-w,--workdir", m_workdir, "The guest command's working directory (absolute)");
    boot.add_option("--hostname", m_options.hostname, "The guest's hostname (default: the rootfs's /etc/hostname)");
    boot.add_option("--cmdline", m_options.extra_cmdline, "Appended to the default kernel command line");
    boot.add_option("--console", m_console, "serial (ttyS0) or virtio (hvc0)")->check(CLI::IsMember({ "serial", "virtio" }))->capture_default_str();
    boot.add_flag("--timings", m_options.print_timings, "Print start-up timings on exit");
    boot.add_flag("--hugepages", m_huge_pages, "Back guest RAM with 2 MiB huge pages (from /proc/sys/vm/nr_hugepages)");
    boot.add_option("--dump-dtb", m_options.device_tree_dump, "Write the guest's device tree to FILE for dtc -I dtb -O dts (aarch64)");
    boot.add_flag("--jail", m_jail, "Run the VMM in new namespaces with only its kernel, initrd, disks and /dev/kvm (root)");
    boot.add_option("--net", m_network, "none (no network device) or bridge (eth0 on virtio-net, a TAP on vmm0; needs root)")
        ->check(CLI::IsMember({ "none", "bridge" }))
        ->capture_default_str();
    boot.add_option("--bridge", m_bridge, "--net bridge: the bridge to join (created on first use)")->capture_default_str();
    boot.add_option("--subnet", m_subnet, fmt::format("--net bridge: vmm0's subnet when it is created (default {})", network::Subnet::default_text));
    boot.add_option("--ip", m_address, "--net bridge: a fixed address in the bridge's subnet");
    boot.add_option("--mac", m_mac, "--net bridge: eth0's MAC address");
    boot.add_option("-p,--publish", m_published_ports, "--net bridge: HOST_PORT:PORT[/tcp|udp], forwarded from the host's addresses (may repeat)");
}

std::vector<DiskOptions> BootCommand::parse_disks() const
{
    struct GivenDisk {
        std::string name; // As the user gave it, for messages.
        DiskOptions disk;
    };
    std::vector<GivenDisk> given;
    if (m_rootfs)
        given.push_back({ "ROOTFS " + *m_rootfs, parse_disk_option(*m_rootfs, "ROOTFS") });
    for (auto const& text : m_extra_disks)
        given.push_back({ "--disk " + text, parse_disk_option(text) });
    // One image twice in a VM would be opened twice, and the second open
    // refused by the first one's lock as if another VM held the image: said
    // as what it is, before anything is opened. A path that is missing, or
    // not an image, is left to the open that names the problem.
    std::vector<std::pair<struct stat, GivenDisk const*>> seen;
    for (auto const& disk : given) {
        struct stat status {};
        if (::stat(disk.disk.path.c_str(), &status) != 0 || !(S_ISREG(status.st_mode) || S_ISBLK(status.st_mode)))
            continue;
        for (auto const& [earlier_status, earlier] : seen) {
            bool const same = S_ISBLK(status.st_mode)
                ? S_ISBLK(earlier_status.st_mode) && earlier_status.st_rdev == status.st_rdev
                : earlier_status.st_dev == status.st_dev && earlier_status.st_ino == status.st_ino;
            if (same)
                throw UsageError(fmt::format("{} and {} are the same image: a VM takes each image once", earlier->name, disk.name));
        }
        seen.emplace_back(status, &disk);
    }
    std::vector<DiskOptions> disks;
    for (auto const& disk : given)
        disks.push_back(disk.disk);
    return disks;
}

int BootCommand::run(std::vector<std::string> command)
{
    m_options.command_settings = command_settings_from_options(m_environment, m_user, m_workdir);
    if (m_subcommand->count("--hostname") > 0)
        check_hostname(m_options.hostname);
    // Every option's value before anything is made (a network, a rootfs image).
    auto disks = parse_disks();
    if (m_initrd) {
        if (m_initrd->empty())
            throw UsageError("--initrd: an empty path (give an initramfs file, or leave --initrd out)");
        m_options.initrd = *m_initrd;
    }
    if (m_memory)
        m_options.memory_size = parse_size_option(*m_memory, "--mem");
    if (m_cpus)
        m_options.cpus = parse_vcpu_count(*m_cpus);
    // The network first: its bad input is refused before a rootfs image is made.
    std::optional<BootNetwork> network;
    if (m_network == "bridge") {
        vmm::network::EndpointOptions options;
        options.kind = vmm::network::InstanceKind::VirtualMachine;
        options.bridge = m_bridge;
        if (m_subnet)
            options.subnet = parse_option_value([&] { return vmm::network::Subnet::parse(*m_subnet); });
        if (m_address)
            options.address = parse_option_value([&] { return vmm::network::Ipv4Address::parse(*m_address, "--ip"); });
        if (m_mac)
            options.mac = parse_option_value([&] { return vmm::network::MacAddress::parse(*m_mac, "--mac"); });
        for (auto const& text : m_published_ports)
            options.published_ports.push_back(parse_option_value([&] { return vmm::network::PortMapping::parse(text); }));
        network.emplace(BootNetwork::create(options));
        m_options.network = network->take_net_options();
    } else if (m_subnet || m_address || m_mac || !m_published_ports.empty() || m_bridge != vmm::network::default_bridge_name) {
        throw UsageError("--bridge, --subnet, --ip, --mac and -p need --net bridge");
    }
    // Before the keeper tears the network down: the TAP goes with the last descriptor.
    auto release_network = [this](int status) {
        m_options.network.reset();
        return status;
    };

    // A directory becomes an ext4 image (cached); the guest writes to a private copy.
    std::optional<RootDisk> root_disk;
    auto extra_disks = disks.begin();
    if (m_rootfs) {
        root_disk.emplace(RootDisk::prepare(*extra_disks++, command.empty() ? CommandGiven::No : CommandGiven::Yes,
            m_jail ? PrivateCopy::Named : PrivateCopy::Unnamed));
        m_options.disks.push_back(root_disk->disk());
    }
    m_options.disks.insert(m_options.disks.end(), extra_disks, disks.end());
    for (auto& disk : m_options.disks) {
        disk.poll = std::chrono::microseconds(m_block_poll_us);
        disk.queues = static_cast<uint16_t>(m_block_queues);
    }
    m_options.console = m_console == "virtio" ? ConsoleKind::Virtio : ConsoleKind::Serial;
    m_options.command = std::move(command);
    if (m_huge_pages)
        m_options.huge_pages = HugePages::Yes;
    if (m_jail) {
        // The parent waits for the jailed VMM; the child boots with the jail's paths.
        if (auto const status = enter_jail(m_options))
            return release_network(*status);
        // The jailed child, confined: the parent removes the private copy.
        if (root_disk)
            root_disk->leave_private_copy_to_parent();
    }
    return release_network(boot(m_options));
}

}
