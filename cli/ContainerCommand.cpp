#include "cli/ContainerCommand.h"

#include "cli/Options.h"
#include "common/Size.h"
#include "common/Error.h"
#include "container/Container.h"
#include "container/OptionsSpec.h"
#include "network/Address.h"
#include "network/Bridge.h"
#include "network/PortMapping.h"
#include "vmm/machine/BootOptions.h"

#include <fmt/format.h>
#include <utility>

#include <unistd.h>

namespace vmm::cli {

ContainerCommand::ContainerCommand(CLI::App& app)
{
    m_options = {
        app.add_option("--container", m_rootfs, "Run ROOTFS (a directory, an ext4 image or a tar archive) as a container")->option_text("ROOTFS"),
        app.add_option("--mem", m_memory, "Container: its memory limit (e.g. 512M)"),
        app.add_option("--cpus", m_cpus, "Container: its CPU quota (e.g. 1.5)"),
        app.add_option("--pids", m_pids, "Container: the most processes it may have"),
        app.add_option("--hostname", m_hostname, "Container: its hostname")->capture_default_str(),
        app.add_option("--net", m_network, "Container: none (loopback only), host, or bridge (eth0 on vmm0, needs root)")
            ->check(CLI::IsMember({ "none", "host", "bridge" }))
            ->capture_default_str(),
        app.add_option("--bridge", m_bridge, fmt::format("Container, --net bridge: the bridge to join (default {}, made on first use)", network::default_bridge_name)),
        app.add_option("--subnet", m_subnet, fmt::format("Container, --net bridge: vmm0's subnet when it is created (default {})", network::Subnet::default_text)),
        app.add_option("--ip", m_address, "Container, --net bridge: a fixed address in the bridge's subnet"),
        app.add_option("--mac", m_mac, "Container, --net bridge: eth0's MAC address"),
        app.add_option("-p,--publish", m_published_ports, "Container, --net bridge: HOST_PORT:PORT[/tcp|udp], forwarded from the host's addresses (may repeat)"),
        app.add_option("--security-opt", m_security_options,
            "Container: seccomp=unconfined (no seccomp filter) or systempaths=unconfined (/proc and /sys not masked), as docker's (may repeat)")
            ->allow_extra_args(false)
            ->check(CLI::IsMember({ "seccomp=unconfined", "systempaths=unconfined" })),
        app.add_option("--cgroups", m_cgroups, "Container: enabled, or disabled (no cgroup of its own: no limits, no CAP_MKNOD)")
            ->check(CLI::IsMember({ "enabled", "disabled" }))
            ->capture_default_str(),
        app.add_option("--root-writes", m_root_writes,
            "Container: where a directory rootfs's writes go: overlay (a layer removed at exit) or in-place (the directory, as bwrap --bind)")
            ->check(CLI::IsMember({ "overlay", "in-place" }))
            ->capture_default_str(),
        app.add_option("--volume", m_volumes,
               "Container: HOST_PATH:PATH[:ro|rw], a host directory or file bound at PATH, where writes outlive the container (may repeat)")
            ->allow_extra_args(false),
        app.add_option("-e,--env", m_environment, "Container: KEY=VALUE, an environment variable of the command, or KEY for vmm's own value (may repeat)"),
        app.add_option("-u,--user", m_user, "Container: USER[:GROUP] (names in the rootfs's /etc/passwd and /etc/group, or numbers) to run the command as"),
        app.add_option("-w,--workdir", m_workdir, "Container: the command's working directory (absolute)"),
        app.add_flag("--rootless", m_rootless, "Container: map root to the calling user in a user namespace"),
        app.add_flag("-t,--tty", m_tty, "Container: a terminal of its own for CMD (the default without CMD) when stdin is a terminal"),
        app.add_flag("--timings", m_timings, "Container: print when init came up and when it exited"),
    };
}

std::vector<std::string> ContainerCommand::options_given() const
{
    std::vector<std::string> given;
    for (auto const* option : m_options) {
        if (option->count() > 0)
            given.push_back(option->get_name());
    }
    return given;
}

int ContainerCommand::run(std::vector<std::string> command, bool verbose)
{
    container::ContainerOptions options;
    if (m_rootfs->empty())
        throw UsageError("--container: an empty path (ROOTFS is a directory, an ext4 image or a tar archive)");
    // ROOTFS[,ro], as vmm boot takes its disks.
    auto const root = parse_disk_option(*m_rootfs, "--container");
    options.rootfs = root.path;
    options.root_access = root.access == DiskAccess::ReadOnly ? container::RootAccess::ReadOnly : container::RootAccess::ReadWrite;
    options.command = std::move(command);
    options.command_settings = command_settings_from_options(m_environment, m_user, m_workdir);
    if (m_memory)
        options.memory_limit = parse_size_option(*m_memory, "--mem");
    if (m_cpus)
        options.cpus = parse_cpu_quota(*m_cpus);
    if (m_pids)
        options.pids_limit = parse_process_limit(*m_pids);
    options.hostname = m_hostname;
    options.network = m_network == "host" ? container::NetworkMode::Host
        : m_network == "bridge"              ? container::NetworkMode::Bridge
                                             : container::NetworkMode::None;
    if (options.network != container::NetworkMode::Bridge) {
        for (auto const& [text, name] : { std::pair { &m_bridge, "--bridge" }, { &m_subnet, "--subnet" }, { &m_address, "--ip" }, { &m_mac, "--mac" } }) {
            if (text->has_value())
                throw UsageError(fmt::format("{} needs --net bridge", name));
        }
        if (!m_published_ports.empty())
            throw UsageError("-p needs --net bridge");
    }
    if (m_bridge)
        options.bridge.name = *m_bridge;
    if (m_subnet)
        options.bridge.subnet = parse_option_value([&] { return network::Subnet::parse(*m_subnet, "--subnet"); });
    if (m_address)
        options.bridge.address = parse_option_value([&] { return network::Ipv4Address::parse(*m_address, "--ip"); });
    if (m_mac)
        options.bridge.mac = parse_option_value([&] { return network::MacAddress::parse(*m_mac, "--mac"); });
    for (auto const& text : m_published_ports)
        options.bridge.published_ports.push_back(parse_option_value([&] { return network::PortMapping::parse(text); }));
    for (auto const& text : m_security_options) {
        if (text == "seccomp=unconfined")
            options.seccomp = container::SeccompMode::Unconfined;
        else
            options.system_paths = container::SystemPaths::Unconfined;
    }
    options.cgroups = m_cgroups == "disabled" ? container::CgroupMode::Disabled : container::CgroupMode::Enabled;
    options.directory_writes = m_root_writes == "in-place" ? container::DirectoryWrites::InPlace : container::DirectoryWrites::Overlay;
    for (auto const& text : m_volumes)
        options.volumes.push_back(container::parse_volume(text));
    options.rootless = m_rootless ? container::Rootless::Yes : container::Rootless::No;
    // As `docker run -it`: a pty only for a person at a terminal.
    if (::isatty(STDIN_FILENO) && (m_tty || options.command.empty()))
        options.terminal = container::TerminalMode::Pseudo;
    options.print_timings = m_timings || verbose;
    return container::run(options);
}

}
