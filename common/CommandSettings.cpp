#include "common/CommandSettings.h"

#include "common/Error.h"
#include "guest/protocol.h"

#include <cstdlib>
#include <fmt/format.h>

namespace vmm {

CommandSettings command_settings_from_options(std::vector<std::string> const& environment, std::optional<std::string> const& user,
    std::optional<std::string> const& workdir)
{
    CommandSettings settings;
    for (auto const& variable : environment) {
        auto const equals = variable.find('=');
        if (variable.empty() || equals == 0)
            throw UsageError(fmt::format("--env '{}': not KEY=VALUE or KEY", variable));
        if (equals != std::string::npos) {
            settings.environment.push_back(variable);
        } else if (char const* value = std::getenv(variable.c_str())) {
            settings.environment.push_back(variable + "=" + value);
        }
    }
    if (settings.environment.size() > VMM_MAX_ENVIRONMENT)
        throw UsageError(fmt::format("--env: {} variables; guest/init takes at most {}", settings.environment.size(), VMM_MAX_ENVIRONMENT));
    if (user) {
        if (user->empty())
            throw UsageError("--user: an empty name (USER[:GROUP], a name or a number each)");
        auto const colon = user->find(':');
        if (colon == 0 || colon + 1 == user->size() || user->find(':', colon + 1) != std::string::npos)
            throw UsageError(fmt::format("--user '{}': not USER[:GROUP] (a name or a number each)", *user));
        settings.user = *user;
    }
    if (workdir) {
        if (workdir->empty())
            throw UsageError("--workdir: an empty path (an absolute directory)");
        if (workdir->front() != '/')
            throw UsageError(fmt::format("--workdir '{}': not an absolute path", *workdir));
        settings.workdir = *workdir;
    }
    return settings;
}

void check_hostname(std::string const& name)
{
    if (name.empty() || name.size() > 64)
        throw UsageError(fmt::format("--hostname: '{}' is not a hostname of 1 to 64 characters", name));
}

std::vector<std::string> container_init_options(CommandSettings const& settings)
{
    std::vector<std::string> options;
    if (!settings.user.empty())
        options.push_back(VMM_USER_OPTION + settings.user);
    if (!settings.workdir.empty())
        options.push_back(VMM_WORKDIR_OPTION + settings.workdir);
    for (auto const& variable : settings.environment)
        options.push_back(VMM_ENV_OPTION + variable);
    return options;
}

}
