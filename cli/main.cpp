// vmm: boot a Linux guest on KVM (`vmm boot`) or run the same root filesystem
// as a container (`vmm --container`).

#include "common/Error.h"
#include "common/Size.h"
#include "container/Container.h"
#include "vmm/machine/HostDetection.h"
#include "vmm/machine/Machine.h"
#include "vmm/machine/RootDisk.h"
#include "common/Timings.h"
#include "vmm/sandbox/Jail.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <optional>
#include <cstdio>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <string>
#include <vector>

namespace {

// Everything after the first "--" is the guest command and never reaches the option parser.
std::vector<std::string> split_command(int& argc, char** argv)
{
    std::vector<std::string> command;
    for (int index = 1; index < argc; ++index) {
        if (std::string_view(argv[index]) == "--") {
            command.assign(argv + index + 1, argv + argc);
            argc = index;
            break;
        }
    }
    return command;
}

uint32_t parse_cpus(std::string const& text)
{
    uint32_t cpus = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), cpus);
    if (error != std::errc() || end != text.data() + text.size() || cpus == 0 || cpus > 32)
        throw vmm::Error("--cpus: '" + text + "' is not a vCPU count from 1 to 32");
    return cpus;
}

uint64_t parse_count(std::string const& text, char const* option)
{
    uint64_t count = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
    if (error != std::errc() || end != text.data() + text.size() || count == 0)
        throw vmm::Error(std::string(option) + ": '" + text + "' is not a positive whole number");
    return count;
}

double parse_cpu_quota(std::string const& text)
{
    double cpus = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), cpus);
    if (error != std::errc() || end != text.data() + text.size() || !(cpus > 0) || cpus > 1024)
        throw vmm::Error("--cpus: '" + text + "' is not a CPU count greater than 0");
    return cpus;
}

}

int main(int argc, char** argv)
{
    vmm::Timings::process_start();
    auto command = split_command(argc, argv);

    CLI::App app { "vmm: a small KVM virtual machine monitor and its sibling container runtime" };
    app.set_help_all_flag("--help-all", "Show the help of every subcommand");
    app.require_subcommand(0, 1);

    std::string memory_text;
    std::string cpus_text;
    bool verbose = false;
    app.add_flag("-v,--verbose", verbose, "Log what vmm does on stderr");

    std::string container_rootfs;
    std::string pids_text;
    std::string hostname = "vmm";
    std::string network = "none";
    bool rootless = false;
    app.add_option("--container", container_rootfs, "Run ROOTFS (a directory or an ext4 image) as a container")->option_text("ROOTFS");
    app.add_option("--mem", memory_text, "Memory: guest RAM, or the container's memory limit (e.g. 512M)");
    app.add_option("--cpus", cpus_text, "vCPUs, or the container's CPU quota");
    app.add_option("--pids", pids_text, "Container: the most processes it may have");
    app.add_option("--hostname", hostname, "Container: its hostname")->capture_default_str();
    app.add_option("--net", network, "Container: none (loopback only) or host")->check(CLI::IsMember({ "none", "host" }))->capture_default_str();
    app.add_flag("--rootless", rootless, "Container: map root to the calling user in a user namespace");
    bool tty = false;
    app.add_flag("-t,--tty", tty, "Container: a terminal of its own for CMD (the default without CMD) when stdin is a terminal");
    bool container_timings = false;
    app.add_flag("--timings", container_timings, "Container: print when init came up and when it exited");

    vmm::BootOptions boot_options;
    std::string rootfs;
    std::vector<std::string> extra_disks;
    std::string console = "serial";
    auto* boot = app.add_subcommand("boot", "Boot a Linux bzImage with ROOTFS as /dev/vda: vmm boot BZIMAGE ROOTFS [options] [-- CMD...]");
    boot->add_option("bzimage", boot_options.kernel, "The guest kernel (bzImage)")->required();
    boot->add_option("rootfs", rootfs, "The root filesystem (/dev/vda): an ext4 image, a directory or a tar archive, PATH[,ro]")->required();
    boot->add_option("--disk", extra_disks, "Another disk image, PATH[,ro] (may repeat)");
    boot->add_option("--initrd", boot_options.initrd, "An initramfs to load");
    boot->add_option("--mem", memory_text, "Guest RAM (default 512M)");
    boot->add_option("--cpus", cpus_text, "vCPUs (default 1)");
    boot->add_option("--cmdline", boot_options.extra_cmdline, "Appended to the default kernel command line");
    boot->add_option("--console", console, "serial (ttyS0) or virtio (hvc0)")->check(CLI::IsMember({ "serial", "virtio" }))->capture_default_str();
    boot->add_flag("--timings", boot_options.print_timings, "Print start-up timings on exit");
    bool huge_pages = false;
    boot->add_flag("--hugepages", huge_pages, "Back guest RAM with 2 MiB huge pages (from /proc/sys/vm/nr_hugepages)");
    bool jail = false;
    boot->add_flag("--jail", jail, "Run the VMM in new namespaces with only its kernel, initrd, disks and /dev/kvm (root)");
    bool flat_binary = false;
    // For the project's tests: a few instructions of raw 64-bit code instead of a bzImage.
    boot->add_flag("--test-guest", flat_binary, "Load BZIMAGE as a flat 64-bit test binary")->group("");
    auto* host_kind = app.add_subcommand("host-kind", "Print what /dev/kvm is on this host: absent, pvm, vmx or svm (for scripts)");

    try {
        app.parse(argc, argv);
    } catch (CLI::ParseError const& error) {
        if (error.get_exit_code() == 0)
            return app.exit(error);
        std::fprintf(stderr, "vmm: %s (see vmm --help)\n", error.what());
        return 2;
    }
    // vmm's messages on stderr: stdout carries the guest's console alone.
    spdlog::set_default_logger(spdlog::stderr_color_mt("vmm"));
    spdlog::set_pattern("vmm: %v");
    spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);

    try {
        if (host_kind->parsed())
            return std::puts(vmm::kvm_kind_name(vmm::detect_kvm_kind())) < 0 ? 1 : 0;
        if (!container_rootfs.empty() && boot->parsed())
            throw vmm::Error("--container and boot cannot be used together");
        if (!container_rootfs.empty()) {
            vmm::container::ContainerOptions options;
            options.rootfs = container_rootfs;
            options.command = command;
            if (!memory_text.empty())
                options.memory_limit = vmm::parse_size(memory_text, "--mem");
            if (!cpus_text.empty())
                options.cpus = parse_cpu_quota(cpus_text);
            if (!pids_text.empty())
                options.pids_limit = parse_count(pids_text, "--pids");
            options.hostname = hostname;
            options.network = network == "host" ? vmm::container::NetworkMode::Host : vmm::container::NetworkMode::None;
            options.rootless = rootless ? vmm::container::Rootless::Yes : vmm::container::Rootless::No;
            // As `docker run -it`: a pty only for a person at a terminal.
            if (::isatty(STDIN_FILENO) && (tty || command.empty()))
                options.terminal = vmm::container::TerminalMode::Pseudo;
            options.print_timings = container_timings || verbose;
            return vmm::container::run(options);
        }
        if (!boot->parsed()) {
            std::fputs(app.help().c_str(), stdout);
            return 2;
        }
        // A directory becomes an ext4 image (cached); the guest writes to a private copy.
        std::optional<vmm::RootDisk> root_disk;
        if (flat_binary) {
            boot_options.disks.push_back(vmm::parse_disk_option(rootfs));
        } else {
            root_disk.emplace(vmm::RootDisk::prepare(vmm::parse_disk_option(rootfs), command.empty() ? vmm::CommandGiven::No : vmm::CommandGiven::Yes,
                jail ? vmm::PrivateCopy::Named : vmm::PrivateCopy::Unnamed));
            boot_options.disks.push_back(root_disk->disk());
        }
        for (auto const& disk : extra_disks)
            boot_options.disks.push_back(vmm::parse_disk_option(disk));
        if (!memory_text.empty())
            boot_options.memory_size = vmm::parse_size(memory_text, "--mem");
        if (!cpus_text.empty())
            boot_options.cpus = parse_cpus(cpus_text);
        boot_options.console = console == "virtio" ? vmm::ConsoleKind::Virtio : vmm::ConsoleKind::Serial;
        boot_options.command = command;
        if (huge_pages)
            boot_options.huge_pages = vmm::HugePages::Yes;
        if (flat_binary)
            boot_options.kernel_format = vmm::KernelFormat::FlatBinary;
        if (jail) {
            // The parent waits for the jailed VMM; the child boots with the jail's paths.
            if (auto const status = vmm::sandbox::enter_jail(boot_options))
                return *status;
            // The jailed child, confined: the parent removes the private copy.
            if (root_disk)
                root_disk->leave_private_copy_to_parent();
        }
        return vmm::boot(boot_options);
    } catch (vmm::Error const& error) {
        std::fprintf(stderr, "vmm: %s\n", error.what());
        return 1;
    } catch (std::exception const& error) {
        std::fprintf(stderr, "vmm: internal error: %s\n", error.what());
        return 1;
    }
}
