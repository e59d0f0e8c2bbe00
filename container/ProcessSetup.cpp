#include "container/ProcessSetup.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "guest/user.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm::container {

namespace {

constexpr char const* default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool is_executable_file(std::string const& path)
{
    struct stat status {};
    return ::stat(path.c_str(), &status) == 0 && S_ISREG(status.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

}

void apply_resource_limits(std::vector<ResourceLimit> const& limits)
{
    for (auto const& limit : limits) {
        rlimit value { limit.soft, limit.hard };
        if (::setrlimit(static_cast<__rlimit_resource>(limit.resource), &value) < 0)
            throw_system_error("setrlimit", fmt::format("resource {} ({}:{})", limit.resource, limit.soft, limit.hard));
    }
}

void set_oom_score_adjustment(int adjustment)
{
    auto file = FileDescriptor::open("/proc/self/oom_score_adj", O_WRONLY);
    auto text = fmt::format("{}", adjustment);
    if (!write_all(file.get(), text.data(), text.size()))
        throw_system_error("write", fmt::format("/proc/self/oom_score_adj ({})", adjustment));
}

void switch_user(ProcessSpec const& process)
{
    std::vector<gid_t> groups(process.additional_gids.begin(), process.additional_gids.end());
    // setgroups is denied in a user namespace whose creator wrote "deny"
    // (an unprivileged one): then only an empty list is allowed, and fails too.
    if (::setgroups(groups.size(), groups.data()) < 0 && !(errno == EPERM && groups.empty()))
        throw_system_error("setgroups", "(process.user.additionalGids)");
    if (process.uid != 0 && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        throw_system_error("prctl PR_SET_KEEPCAPS");
    if (::setresgid(process.gid, process.gid, process.gid) < 0)
        throw_system_error("setresgid", fmt::format("{} (process.user.gid)", process.gid));
    if (::setresuid(process.uid, process.uid, process.uid) < 0)
        throw_system_error("setresuid", fmt::format("{} (process.user.uid)", process.uid));
}

std::vector<std::string> process_environment(ProcessSpec const& process)
{
    auto environment = process.env;
    auto has = [&](std::string_view prefix) {
        return std::any_of(environment.begin(), environment.end(), [&](auto const& variable) { return variable.starts_with(prefix); });
    };
    if (!has("PATH="))
        environment.push_back(std::string("PATH=") + default_path);
    // runc's HOME where config.json sets none: the user's entry in the
    // container's own /etc/passwd, else /.
    if (!has("HOME=")) {
        vmm_command_user user {};
        char error[256];
        bool const found = vmm_resolve_user(std::to_string(process.uid).c_str(), "/etc/passwd", "/etc/group", &user, error, sizeof(error)) == 0;
        environment.push_back(std::string("HOME=") + (found && user.home[0] ? user.home : "/"));
    }
    return environment;
}

std::string find_executable(ProcessSpec const& process)
{
    if (process.args.empty())
        throw Error("process.args is empty: there is no program to run");
    auto const& name = process.args[0];
    if (name.find('/') != std::string::npos) {
        if (!is_executable_file(name))
            throw Error(fmt::format("exec {}: {}", name, ::access(name.c_str(), F_OK) == 0 ? "not an executable file" : "no such file or directory"));
        return name;
    }
    std::string path = default_path;
    for (auto const& variable : process.env) {
        if (variable.starts_with("PATH="))
            path = variable.substr(5);
    }
    size_t start = 0;
    for (;;) {
        auto end = path.find(':', start);
        auto directory = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
        auto candidate = (directory.empty() ? std::string(".") : directory) + "/" + name;
        if (is_executable_file(candidate))
            return candidate;
        if (end == std::string::npos)
            break;
        start = end + 1;
    }
    throw Error(fmt::format("exec {}: executable file not found in $PATH", name));
}

}
