#include "vmm/machine/KernelCmdline.h"

#include "common/Error.h"
#include "guest/protocol.h"

#include <fmt/format.h>

namespace vmm {

char const* const pvm_cmdline_options = "noxsave clearcpuid=smap,smep,popcnt,fsgsbase,rdpid,rdrand,rdseed,avx,avx2,avx512f,"
                                        "xsave,xsaveopt,xsavec,xsaves,invpcid,pcid,movbe,bmi1,bmi2,umip";

std::string build_kernel_cmdline(CmdlineInputs const& inputs, size_t limit)
{
    std::string cmdline = inputs.platform_options.empty() ? "quiet" : inputs.platform_options + " quiet";
    cmdline += inputs.console == ConsoleKind::Virtio ? " console=ttyS0 console=hvc0" : " console=ttyS0";
    bool const read_only = inputs.root_access == DiskAccess::ReadOnly;
    // With vmm's initramfs there is no root= at all: the kernel never mounts
    // a root itself, so its fallbacks (/sbin/init, then /bin/sh with the
    // command line's words as arguments) never run.
    if (inputs.root_mount == RootMount::Kernel)
        cmdline += read_only ? " root=/dev/vda ro rootfstype=ext4 rootwait" : " root=/dev/vda rw rootfstype=ext4 rootwait";
    else if (inputs.root_mount == RootMount::Init)
        cmdline += read_only ? " rdinit=/init " VMM_CMDLINE_ROOT_KEY "ro" : " rdinit=/init " VMM_CMDLINE_ROOT_KEY "rw";
    for (auto const& device : inputs.virtio_devices)
        cmdline += " " + device;
    if (inputs.host == HostKind::Pvm) {
        cmdline += ' ';
        cmdline += pvm_cmdline_options;
    }
    cmdline += " " VMM_CMDLINE_MODE_VM;
    if (inputs.network) {
        cmdline += " " VMM_CMDLINE_IP_KEY + inputs.network->address;
        if (!inputs.network->gateway.empty())
            cmdline += " " VMM_CMDLINE_GATEWAY_KEY + inputs.network->gateway;
        cmdline += fmt::format(" " VMM_CMDLINE_MTU_KEY "{}", inputs.network->mtu);
        if (!inputs.network->name_servers.empty())
            cmdline += fmt::format(" " VMM_CMDLINE_DNS_KEY "{}", fmt::join(inputs.network->name_servers, ","));
    }
    if (inputs.window_size)
        cmdline += fmt::format(" " VMM_CMDLINE_WINSIZE_KEY "{}x{}", inputs.window_size->rows, inputs.window_size->columns);
    if (inputs.input == HostStream::Data)
        cmdline += " " VMM_CMDLINE_STDIN_DATA;
    if (inputs.output == HostStream::Data)
        cmdline += " " VMM_CMDLINE_STDOUT_DATA;
    auto add_encoded = [&](char const* key, std::string const& value) {
        std::string encoded(value.size() * 3 + 1, '\0');
        size_t const length = vmm_percent_encode(value.c_str(), encoded.data(), encoded.size());
        if (length == 0 && !value.empty())
            throw Error(fmt::format("'{}' cannot be passed to the guest", value));
        encoded.resize(length);
        cmdline += fmt::format(" {}{}", key, encoded);
    };
    if (!inputs.hostname.empty())
        add_encoded(VMM_CMDLINE_HOSTNAME_KEY, inputs.hostname);
    auto const& settings = inputs.command_settings;
    if (!settings.user.empty())
        add_encoded(VMM_CMDLINE_USER_KEY, settings.user);
    if (!settings.workdir.empty())
        add_encoded(VMM_CMDLINE_WORKDIR_KEY, settings.workdir);
    for (auto const& variable : settings.environment)
        add_encoded(VMM_CMDLINE_ENV_KEY, variable);
    for (auto const& argument : inputs.command)
        add_encoded(VMM_CMDLINE_ARGUMENT_KEY, argument);
    if (inputs.command.size() > VMM_MAX_ARGUMENTS)
        throw Error(fmt::format("the guest command has {} arguments; guest/init takes at most {}", inputs.command.size(), VMM_MAX_ARGUMENTS));
    if (!inputs.extra.empty())
        cmdline += " " + inputs.extra;
    if (cmdline.size() > limit)
        throw Error(fmt::format("the kernel command line is {} bytes; the kernel accepts at most {} (shorten the command or --cmdline)",
            cmdline.size(), limit));
    return cmdline;
}

}
