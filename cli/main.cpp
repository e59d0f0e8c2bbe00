// vmm: boot a Linux guest on KVM (`vmm boot`) or run the same root filesystem
// as a container (`vmm --container`). Each command's options live in its own
// file; this one parses, sets up logging and dispatches.

#include "cli/BootCommand.h"
#include "cli/ContainerCommand.h"
#include "cli/OciCommand.h"
#include "cli/Options.h"
#include "common/Error.h"
#include "common/Timings.h"
#include "vmm/machine/HostDetection.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace {

// Ends vmm once a command's run() has returned its status. By then the
// command has released everything it made (mounts, cgroups, the writable
// layer, network devices, guest memory); what is left is heap and the
// libraries' static objects, whose teardown only touches pages the start
// never touched: 26 page faults after the container's exit, on the path
// that ends the container's start (0.97x its wall time without them, in
// interleaved rounds). Only the stdio buffers hold output, and they go out.
[[noreturn]] void exit_after_run(int status)
{
    std::fflush(nullptr);
    std::_Exit(status);
}

}

int main(int argc, char** argv)
{
    vmm::Timings::process_start();
    // runc's command line (podman and containerd call vmm-runc, a link to vmm).
    if (vmm::cli::is_oci_invocation(argc, argv))
        return vmm::cli::run_oci_command(argc, argv);
    auto command = vmm::cli::split_command(argc, argv);

    CLI::App app { "vmm: a small KVM virtual machine monitor and its sibling container runtime" };
    app.set_help_all_flag("--help-all", "Show the help of every subcommand");
    app.require_subcommand(0, 1);
    app.footer("vmm oci COMMAND ... (or vmm-runc COMMAND ...): the container engine as an OCI runtime, with runc's command line (vmm oci --help)");
    bool verbose = false;
    app.add_flag("-v,--verbose", verbose, "Log what vmm does on stderr");

    vmm::cli::ContainerCommand container_command(app);
    vmm::cli::BootCommand boot_command(app);
    // Where users put it too: `vmm boot -v ...` as `vmm -v boot ...`.
    app.get_subcommand("boot")->add_flag("-v,--verbose", verbose, "Log what vmm does on stderr");
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
        if (boot_command.was_given()) {
            // Options before `boot` are the container's: refuse them rather than drop them.
            if (auto const given = container_command.options_given(); !given.empty())
                throw vmm::UsageError(given.front() + " before boot is a container option; give boot's options after `boot`");
            exit_after_run(boot_command.run(std::move(command)));
        }
        if (container_command.was_given())
            exit_after_run(container_command.run(std::move(command), verbose));
        std::fputs(app.help().c_str(), stdout);
        return 2;
    } catch (vmm::UsageError const& error) {
        // As for what CLI11 refuses: the command line, not the run, failed.
        std::fprintf(stderr, "vmm: %s\n", error.what());
        return 2;
    } catch (vmm::Error const& error) {
        std::fprintf(stderr, "vmm: %s\n", error.what());
        return 1;
    } catch (std::exception const& error) {
        std::fprintf(stderr, "vmm: internal error: %s\n", error.what());
        return 1;
    }
}
