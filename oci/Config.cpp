#include "oci/Config.h"

#include "oci/ConfigFields.h"

#include "common/Error.h"
#include "container/Capabilities.h"
#include "container/SpecMounts.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>
#include <seccomp.h>
#include <span>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>

namespace vmm::oci {

using container::ContainerSpec;
using container::NamespaceType;
using nlohmann::json;

namespace {

// What a runtime-spec document may hold at the top level and under linux.
constexpr char const* known_top_level[] = { "ociVersion", "process", "root", "hostname", "domainname", "mounts", "hooks", "annotations", "linux" };
constexpr char const* known_linux[] = { "namespaces", "uidMappings", "gidMappings", "devices", "cgroupsPath", "resources", "sysctl", "seccomp", "rootfsPropagation", "maskedPaths", "readonlyPaths", "mountLabel" };

void warn_unknown_keys(json const& object, std::span<char const* const> known, std::string_view where)
{
    for (auto const& [key, value] : object.items()) {
        bool found = false;
        for (auto const* name : known)
            found |= key == name;
        if (!found)
            spdlog::warn("config.json: {}{} is not supported and is ignored", where, key);
    }
}

std::optional<NamespaceType> namespace_type(std::string const& name)
{
    if (name == "mount")
        return NamespaceType::Mount;
    if (name == "pid")
        return NamespaceType::Pid;
    if (name == "uts")
        return NamespaceType::Uts;
    if (name == "ipc")
        return NamespaceType::Ipc;
    if (name == "network")
        return NamespaceType::Network;
    if (name == "user")
        return NamespaceType::User;
    if (name == "cgroup")
        return NamespaceType::Cgroup;
    if (name == "time")
        return NamespaceType::Time;
    return std::nullopt;
}

struct RlimitName {
    char const* name;
    int resource;
};

constexpr RlimitName rlimit_names[] = {
    { "RLIMIT_AS", RLIMIT_AS }, { "RLIMIT_CORE", RLIMIT_CORE }, { "RLIMIT_CPU", RLIMIT_CPU }, { "RLIMIT_DATA", RLIMIT_DATA },
    { "RLIMIT_FSIZE", RLIMIT_FSIZE }, { "RLIMIT_LOCKS", RLIMIT_LOCKS }, { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
    { "RLIMIT_NICE", RLIMIT_NICE }, { "RLIMIT_NOFILE", RLIMIT_NOFILE }, { "RLIMIT_NPROC", RLIMIT_NPROC }, { "RLIMIT_RSS", RLIMIT_RSS },
    { "RLIMIT_RTPRIO", RLIMIT_RTPRIO }, { "RLIMIT_RTTIME", RLIMIT_RTTIME }, { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING }, { "RLIMIT_STACK", RLIMIT_STACK },
};

uint64_t capability_set(json const& capabilities, char const* key)
{
    uint64_t mask = 0;
    for (auto const& name : get<std::vector<std::string>>(capabilities, key, {}, "process.capabilities")) {
        auto number = container::capability_from_name(name);
        // Granting less than asked is never less safe: a warning, as crun does.
        if (!number || *number > container::last_capability()) {
            spdlog::warn("config.json: process.capabilities.{}: {} is unknown to this kernel and is left out", key, name);
            continue;
        }
        mask |= uint64_t(1) << *number;
    }
    return mask;
}

std::vector<container::IdMapEntry> read_id_mappings(json const& linux_section, char const* key)
{
    std::vector<container::IdMapEntry> entries;
    for (auto const& entry : get_object_array(linux_section, key, "linux")) {
        entries.push_back({ get<uint32_t>(entry, "containerID", 0, key), get<uint32_t>(entry, "hostID", 0, key), get<uint32_t>(entry, "size", 0, key) });
    }
    return entries;
}

// A user or group id: 0-4294967294. 4294967295 is (uid_t)-1, which the
// set*id() calls take for "leave unchanged": the process would keep root's
// id (runc refuses it too).
uint32_t checked_id(int64_t id, std::string_view field)
{
    if (id < 0 || id > 4294967294)
        throw Error(fmt::format("config.json: {} {} is out of range (0-4294967294)", field, id));
    return static_cast<uint32_t>(id);
}

container::HookSpec read_hook(json const& hook, std::string_view hook_phase)
{
    auto const phase = fmt::format("hooks.{}", hook_phase);
    container::HookSpec result;
    result.path = get<std::string>(hook, "path", "", phase);
    if (result.path.empty() || result.path.front() != '/')
        throw Error(fmt::format("config.json: {}: path '{}' is not absolute", phase, result.path));
    result.args = get<std::vector<std::string>>(hook, "args", {}, phase);
    result.env = get<std::vector<std::string>>(hook, "env", {}, phase);
    if (hook.contains("timeout")) {
        int timeout = get<int>(hook, "timeout", 0, phase);
        if (timeout <= 0)
            throw Error(fmt::format("config.json: {}: timeout {} is not positive", phase, timeout));
        result.timeout_seconds = timeout;
    }
    return result;
}

std::vector<container::HookSpec> read_hooks(json const& hooks, char const* phase)
{
    std::vector<container::HookSpec> result;
    for (auto const& hook : get_object_array(hooks, phase, "hooks"))
        result.push_back(read_hook(hook, phase));
    return result;
}

// root.path: relative to the bundle. A relative path may not leave the
// bundle, neither with ".." nor through a symlink; an absolute one is the
// caller's own choice (podman and containerd give the image's mount).
std::string resolve_root_path(std::string const& bundle, std::string const& path)
{
    if (path.empty())
        throw Error("config.json: root.path is missing");
    auto full = path.front() == '/' ? path : bundle + "/" + path;
    char resolved[PATH_MAX];
    if (!::realpath(full.c_str(), resolved))
        throw Error(fmt::format("config.json: root.path {}: {}", full, std::strerror(errno)));
    struct stat status {};
    if (::stat(resolved, &status) < 0 || !S_ISDIR(status.st_mode))
        throw Error(fmt::format("config.json: root.path {} is not a directory", full));
    if (path.front() != '/') {
        char bundle_resolved[PATH_MAX];
        if (!::realpath(bundle.c_str(), bundle_resolved))
            throw Error(fmt::format("bundle {}: {}", bundle, std::strerror(errno)));
        std::string inside = std::string(bundle_resolved) + "/";
        if (!std::string(resolved).starts_with(inside))
            throw Error(fmt::format("config.json: root.path '{}' leads outside the bundle (to {})", path, resolved));
    }
    return resolved;
}


}

void read_process(json const& process_json, container::ProcessSpec& process)
{
    process.args = get<std::vector<std::string>>(process_json, "args", {}, "process");
    if (process.args.empty())
        throw Error("config.json: process.args is empty: there is no program to run");
    process.env = get<std::vector<std::string>>(process_json, "env", {}, "process");
    process.cwd = get<std::string>(process_json, "cwd", "/", "process");
    if (process.cwd.empty() || process.cwd.front() != '/')
        throw Error(fmt::format("config.json: process.cwd '{}' is not an absolute path", process.cwd));
    auto user = get_object(process_json, "user", "process");
    process.uid = checked_id(get<int64_t>(user, "uid", 0, "process.user"), "process.user.uid");
    process.gid = checked_id(get<int64_t>(user, "gid", 0, "process.user"), "process.user.gid");
    process.additional_gids.clear();
    for (auto gid : get<std::vector<int64_t>>(user, "additionalGids", {}, "process.user"))
        process.additional_gids.push_back(checked_id(gid, "process.user.additionalGids"));
    if (user.contains("umask"))
        process.umask = get<uint32_t>(user, "umask", 022, "process.user");
    if (user.contains("username"))
        spdlog::warn("config.json: process.user.username is Windows-only and is ignored");
    process.terminal = get<bool>(process_json, "terminal", false, "process") ? container::ProcessTerminal::Pseudo : container::ProcessTerminal::None;
    process.no_new_privileges = get<bool>(process_json, "noNewPrivileges", false, "process");
    if (process_json.contains("oomScoreAdj"))
        process.oom_score_adj = get<int>(process_json, "oomScoreAdj", 0, "process");
    auto capabilities = get_object(process_json, "capabilities", "process");
    process.capabilities = { capability_set(capabilities, "bounding"), capability_set(capabilities, "effective"), capability_set(capabilities, "permitted"),
        capability_set(capabilities, "inheritable"), capability_set(capabilities, "ambient") };
    process.rlimits.clear();
    for (auto const& limit : get_object_array(process_json, "rlimits", "process")) {
        auto type = get<std::string>(limit, "type", "", "process.rlimits");
        std::optional<int> resource;
        for (auto const& [name, value] : rlimit_names) {
            if (type == name)
                resource = value;
        }
        if (!resource)
            throw Error(fmt::format("config.json: process.rlimits: unknown type '{}'", type));
        process.rlimits.push_back({ *resource, get<uint64_t>(limit, "soft", 0, "process.rlimits"), get<uint64_t>(limit, "hard", 0, "process.rlimits") });
    }
    if (!get<std::string>(process_json, "apparmorProfile", "", "process").empty())
        spdlog::warn("config.json: process.apparmorProfile is not supported (no AppArmor here) and is ignored");
    if (!get<std::string>(process_json, "selinuxLabel", "", "process").empty())
        spdlog::warn("config.json: process.selinuxLabel is not supported and is ignored");
}

container::HooksSpec hooks_from_config(json const& config)
{
    auto hooks = get_object(config, "hooks", "");
    container::HooksSpec spec;
    spec.prestart = read_hooks(hooks, "prestart");
    spec.create_runtime = read_hooks(hooks, "createRuntime");
    spec.create_container = read_hooks(hooks, "createContainer");
    spec.start_container = read_hooks(hooks, "startContainer");
    spec.poststart = read_hooks(hooks, "poststart");
    spec.poststop = read_hooks(hooks, "poststop");
    return spec;
}

ContainerSpec spec_from_config(json const& config, std::string const& bundle)
{
    if (!config.is_object())
        throw Error("config.json: not a JSON object");
    auto version = get<std::string>(config, "ociVersion", "", "");
    if (!version.starts_with("1.0") && !version.starts_with("1.1") && !version.starts_with("1.2"))
        throw Error(fmt::format("config.json: ociVersion '{}' is not supported (1.0.x, 1.1.x or 1.2.x)", version));
    warn_unknown_keys(config, known_top_level, "");

    ContainerSpec spec;
    spec.oci_version = version;
    spec.bundle = bundle;
    spec.root_setup = container::RootSetup::Bundle;
    spec.init_kind = container::InitKind::Direct;
    spec.mount_target_symlinks = container::MountTargetSymlinks::FollowInsideRoot;
    spec.default_devices = true;

    if (!config.contains("process") || config["process"].is_null())
        throw Error("config.json: process is missing (create needs a process to run)");
    read_process(get_object(config, "process", ""), spec.process);

    auto root = get_object(config, "root", "");
    spec.root_path = resolve_root_path(bundle, get<std::string>(root, "path", "", "root"));
    spec.root_readonly = get<bool>(root, "readonly", false, "root");
    spec.hostname = get<std::string>(config, "hostname", "", "");
    if (!get<std::string>(config, "domainname", "", "").empty())
        spdlog::warn("config.json: domainname is not supported and is ignored");

    for (auto const& mount : get_object_array(config, "mounts", "")) {
        container::MountSpec entry;
        entry.destination = get<std::string>(mount, "destination", "", "mounts");
        if (entry.destination.empty() || entry.destination.front() != '/')
            throw Error(fmt::format("config.json: mounts: destination '{}' is not an absolute path", entry.destination));
        entry.type = get<std::string>(mount, "type", "", "mounts");
        entry.source = get<std::string>(mount, "source", "", "mounts");
        entry.options = get<std::vector<std::string>>(mount, "options", {}, "mounts");
        bool const bind = entry.type == "bind" || std::find(entry.options.begin(), entry.options.end(), "bind") != entry.options.end()
            || std::find(entry.options.begin(), entry.options.end(), "rbind") != entry.options.end();
        if (bind && entry.type.empty())
            entry.type = "bind";
        if (bind && !entry.source.empty() && entry.source.front() != '/')
            entry.source = bundle + "/" + entry.source;
        if (entry.type.empty())
            throw Error(fmt::format("config.json: mounts: {} has no type", entry.destination));
        container::parse_mount_options(entry); // Refuses what it must refuse, now rather than in the child.
        spec.mounts.push_back(std::move(entry));
    }

    spec.hooks = hooks_from_config(config);

    auto linux_section = get_object(config, "linux", "");
    warn_unknown_keys(linux_section, known_linux, "linux.");
    for (auto const& space : get_object_array(linux_section, "namespaces", "linux")) {
        auto type_name = get<std::string>(space, "type", "", "linux.namespaces");
        auto type = namespace_type(type_name);
        if (!type)
            throw Error(fmt::format("config.json: linux.namespaces: unknown namespace type '{}'", type_name));
        if (spec.has_namespace(*type))
            throw Error(fmt::format("config.json: linux.namespaces: '{}' is given twice", type_name));
        spec.namespaces.push_back({ *type, get<std::string>(space, "path", "", "linux.namespaces") });
    }
    spec.uid_mappings = read_id_mappings(linux_section, "uidMappings");
    spec.gid_mappings = read_id_mappings(linux_section, "gidMappings");
    if (spec.makes_namespace(NamespaceType::User) && (spec.uid_mappings.empty() || spec.gid_mappings.empty()))
        throw Error("config.json: a new user namespace needs linux.uidMappings and linux.gidMappings");
    if (!spec.has_namespace(NamespaceType::Mount))
        throw Error("config.json: linux.namespaces has no mount namespace (vmm sets the root up in one)");
    if (!spec.hostname.empty() && !spec.has_namespace(NamespaceType::Uts))
        throw Error("config.json: hostname is set but there is no new uts namespace");

    for (auto const& device : get_object_array(linux_section, "devices", "linux")) {
        container::DeviceNodeSpec node;
        node.path = get<std::string>(device, "path", "", "linux.devices");
        if (!node.path.starts_with("/dev/"))
            throw Error(fmt::format("config.json: linux.devices: path '{}' is not under /dev", node.path));
        auto type = get<std::string>(device, "type", "", "linux.devices");
        if (type.size() != 1 || std::string_view("cbup").find(type[0]) == std::string_view::npos)
            throw Error(fmt::format("config.json: linux.devices: {} has unknown type '{}'", node.path, type));
        node.type = type[0];
        node.major = get<int64_t>(device, "major", 0, "linux.devices");
        node.minor = get<int64_t>(device, "minor", 0, "linux.devices");
        node.file_mode = get<uint32_t>(device, "fileMode", 0666, "linux.devices");
        node.uid = get<uint32_t>(device, "uid", 0, "linux.devices");
        node.gid = get<uint32_t>(device, "gid", 0, "linux.devices");
        spec.devices.push_back(node);
    }
    read_resources(get_object(linux_section, "resources", "linux"), spec);
    // The default devices and linux.devices are allowed whatever
    // linux.resources.devices says (rules apply in order: these come last).
    auto defaults = vmm::default_device_rules();
    spec.device_rules.insert(spec.device_rules.end(), defaults.begin(), defaults.end());
    for (auto const& node : spec.devices) {
        if (node.type != 'p')
            spec.device_rules.push_back({ node.type == 'b' ? vmm::DeviceType::Block : vmm::DeviceType::Character, node.major, node.minor });
    }
    spec.cgroups_path = get<std::string>(linux_section, "cgroupsPath", "", "linux");
    auto const sysctl = get_object(linux_section, "sysctl", "linux");
    for (auto const& [key, value] : sysctl.items())
        spec.sysctl[key] = value.is_string() ? value.get<std::string>() : value.dump();
    spec.masked_paths = get<std::vector<std::string>>(linux_section, "maskedPaths", {}, "linux");
    spec.readonly_paths = get<std::vector<std::string>>(linux_section, "readonlyPaths", {}, "linux");
    if (linux_section.contains("seccomp") && !linux_section["seccomp"].is_null()) {
        spec.seccomp_kind = container::SeccompKind::Spec;
        spec.seccomp = read_seccomp(linux_section["seccomp"]);
    }
    spec.rootfs_propagation = get<std::string>(linux_section, "rootfsPropagation", "", "linux");
    if (!spec.rootfs_propagation.empty() && container::propagation_flag(spec.rootfs_propagation) == 0)
        throw Error(fmt::format("config.json: linux.rootfsPropagation '{}' is not private, shared, slave or unbindable", spec.rootfs_propagation));
    if (!get<std::string>(linux_section, "mountLabel", "", "linux").empty())
        spdlog::warn("config.json: linux.mountLabel is not supported (no SELinux here) and is ignored");
    return spec;
}

BundleConfig read_bundle_config(std::string const& bundle)
{
    auto path = bundle + "/config.json";
    std::ifstream file(path);
    if (!file) {
        struct stat status {};
        if (::stat(bundle.c_str(), &status) < 0)
            throw Error(fmt::format("bundle {}: no such directory", bundle));
        throw Error(fmt::format("bundle {}: no config.json in it", bundle));
    }
    BundleConfig result;
    try {
        result.json = json::parse(file);
    } catch (json::parse_error const& error) {
        throw Error(fmt::format("{}: invalid JSON: {}", path, error.what()));
    }
    result.spec = spec_from_config(result.json, bundle);
    return result;
}

}
