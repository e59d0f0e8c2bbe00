#pragma once

#include <optional>
#include <string>
#include <vector>

namespace vmm {

// Who runs the command, where and with what variables: vmm's -u, -w and -e,
// which guest/init applies the same way in the VM (vmm.user=, vmm.workdir=,
// vmm.env= on the kernel command line) and in the container (its --user=,
// --workdir= and --env= options).
struct CommandSettings {
    std::vector<std::string> environment; // "KEY=VALUE", over init's defaults.
    std::string user;                     // "USER[:GROUP]", names or numbers; empty: root.
    std::string workdir;                  // Absolute; empty: /.
};

// Checks the options' forms; `-e KEY` takes KEY's value from vmm's own
// environment and is left out where vmm has none, as docker run does.
// `user` and `workdir` are absent where not given; an empty one is refused.
CommandSettings command_settings_from_options(std::vector<std::string> const& environment, std::optional<std::string> const& user,
    std::optional<std::string> const& workdir);

// Throws unless `name` is a hostname of 1 to 64 characters (--hostname of
// vmm boot and vmm --container alike).
void check_hostname(std::string const& name);

// The settings as guest/init's container options (--user=, --workdir=, --env=).
std::vector<std::string> container_init_options(CommandSettings const& settings);

}
