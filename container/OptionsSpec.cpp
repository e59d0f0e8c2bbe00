#include "container/OptionsSpec.h"

#include "common/Error.h"
#include "container/Capabilities.h"
#include "container/IdMapping.h"
#include "network/ResolverConfiguration.h"

#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <unistd.h>

namespace vmm::container {

namespace {

// Below this, guest/init itself cannot start.
constexpr uint64_t minimum_memory_limit = 4 * 1024 * 1024;

void validate(ContainerOptions const& options)
{
    if (options.memory_limit && *options.memory_limit < minimum_memory_limit)
        throw UsageError(fmt::format("--mem: {} bytes is below the minimum of 4M", *options.memory_limit));
    if (options.pids_limit && *options.pids_limit < 1)
        throw UsageError("--pids: must be at least 1");
    if (options.cgroups == CgroupMode::Disabled && (options.memory_limit || options.cpus || options.pids_limit))
        throw UsageError("--cgroups disabled: --mem, --cpus and --pids need the container's cgroup");
    check_hostname(options.hostname);
    // An unprivileged caller's user namespace maps one id, root's, to the
    // caller: no other user exists in it to switch to.
    if (!options.command_settings.user.empty() && ::geteuid() != 0)
        throw Error(fmt::format("--user '{}': an unprivileged user's container has only root (mapped to you); "
                                "run vmm as root (with --rootless for a user namespace) for other users",
            options.command_settings.user));
}

// vmm makes the container's cgroup at the top of the hierarchy, which only
// root may write on most hosts (vmm does not ask systemd for a delegated one).
void require_writable_cgroup_hierarchy()
{
    auto const directory = detect_cgroup_version() == CgroupVersion::V2 ? std::string("/sys/fs/cgroup") : std::string("/sys/fs/cgroup/memory");
    if (::access(directory.c_str(), W_OK) < 0)
        throw Error(fmt::format("--mem, --cpus and --pids need a cgroup of the container's own, made in {}, which this user may not write: run as root", directory));
}

}

Volume parse_volume(std::string_view text)
{
    auto fail = [&](std::string_view why) { return Error(fmt::format("--volume '{}': {}", text, why)); };
    std::vector<std::string> parts;
    size_t start = 0;
    for (;;) {
        auto colon = text.find(':', start);
        parts.emplace_back(text.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
        if (colon == std::string_view::npos)
            break;
        start = colon + 1;
    }
    if (parts.size() < 2 || parts.size() > 3)
        throw fail("expected HOST_PATH:PATH[:ro|rw]");
    Volume volume;
    if (parts.size() == 3) {
        if (parts[2] != "ro" && parts[2] != "rw")
            throw fail(fmt::format("unknown option '{}' (ro or rw)", parts[2]));
        volume.access = parts[2] == "ro" ? VolumeAccess::ReadOnly : VolumeAccess::ReadWrite;
    }
    auto const& host = parts[0];
    // Docker reads a bare name as a named volume, which vmm does not keep.
    if (!host.starts_with('/') && !host.starts_with("./") && !host.starts_with("../") && host != "." && host != "..")
        throw fail("HOST_PATH must be a path (absolute, or starting with ./ or ../); named volumes are not supported");
    std::error_code error;
    auto resolved = std::filesystem::canonical(host, error);
    if (error)
        throw fail(fmt::format("{}: {}", host, error.message()));
    volume.host_path = resolved.string();
    auto const& path = parts[1];
    if (!path.starts_with('/'))
        throw fail("PATH must be absolute");
    if (path.find_first_not_of('/') == std::string::npos)
        throw fail("PATH cannot be the container's root");
    volume.container_path = path;
    return volume;
}

ContainerSpec spec_from_options(ContainerOptions const& options)
{
    validate(options);
    bool const is_root = ::geteuid() == 0;
    bool const user_namespace = options.rootless == Rootless::Yes || !is_root;

    ContainerSpec spec;
    spec.root_path = options.rootfs;
    // Its mounts go on as usual (a directory's overlay takes the targets
    // they need); then the root turns read-only (mount_setattr).
    spec.root_readonly = options.root_access == RootAccess::ReadOnly;
    spec.root_setup = RootSetup::Layered;
    spec.directory_writes = options.directory_writes;
    spec.init_kind = InitKind::Embedded;
    spec.require_shell = options.command.empty();
    spec.mount_target_symlinks = MountTargetSymlinks::Refuse;
    spec.hostname = options.hostname;

    spec.init_options = container_init_options(options.command_settings);
    auto& process = spec.process;
    process.args = options.command;
    process.env = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "HOSTNAME=" + options.hostname };
    if (char const* terminal = std::getenv("TERM"))
        process.env.push_back(std::string("TERM=") + terminal);
    process.terminal = options.terminal == TerminalMode::Pseudo ? ProcessTerminal::Pseudo : ProcessTerminal::None;
    // As root the container gets its own cgroup unless --cgroups disabled;
    // an unprivileged caller only where it asked for limits (and may write
    // the cgroup hierarchy).
    spec.resources.memory_bytes = options.memory_limit;
    spec.resources.cpus = options.cpus;
    spec.resources.pids = options.pids_limit;
    bool const has_cgroup = options.cgroups == CgroupMode::Enabled && (is_root || spec.resources.any());
    if (has_cgroup && !is_root)
        require_writable_cgroup_hierarchy();
    // CAP_MKNOD only where the device cgroup limits what it can make.
    bool const restrict_devices = is_root && has_cgroup;
    auto capabilities = default_capabilities(restrict_devices ? DeviceCreation::Allowlisted : DeviceCreation::Denied);
    process.capabilities = { capabilities, capabilities, capabilities, 0, 0 };
    process.no_new_privileges = true;

    spec.namespaces = { { NamespaceType::Mount, {} }, { NamespaceType::Pid, {} }, { NamespaceType::Uts, {} }, { NamespaceType::Ipc, {} }, { NamespaceType::Cgroup, {} } };
    if (options.network != NetworkMode::Host)
        spec.namespaces.push_back({ NamespaceType::Network, {} });
    if (options.network == NetworkMode::Bridge) {
        spec.bridge = options.bridge;
        spec.resolver_configuration = network::host_resolver_configuration();
    } else if (options.network == NetworkMode::Host && ::access("/etc/resolv.conf", R_OK) == 0) {
        // The host's network and so the host's resolver, a loopback stub
        // (systemd-resolved's 127.0.0.53) included, as docker --network host.
        spec.resolver_configuration = "/etc/resolv.conf";
    }
    if (user_namespace) {
        spec.namespaces.push_back({ NamespaceType::User, {} });
        auto mapping = rootless_id_mapping();
        spec.uid_mappings = { { 0, mapping.users.first, mapping.users.count } };
        spec.gid_mappings = { { 0, mapping.groups.first, mapping.groups.count } };
    }

    spec.mounts = default_mounts();
    // The container reads its limits in its cgroup, shown read-only at
    // /sys/fs/cgroup as Docker shows it. Without a cgroup of its own there
    // is nothing of its own to show.
    if (!has_cgroup)
        std::erase_if(spec.mounts, [](MountSpec const& mount) { return mount.type == "cgroup"; });
    for (auto& mount : spec.mounts) {
        // The tmpfs /dev of vmm's containers is noexec; the OCI default's is not.
        if (mount.destination == "/dev")
            mount.options = { "nosuid", "noexec", "mode=755", "size=65536k" };
    }
    // A read-only root keeps a writable /tmp, as the VM's guest/init mounts
    // one: the same commands work both ways.
    if (options.root_access == RootAccess::ReadOnly)
        spec.mounts.push_back({ "/tmp", "tmpfs", "tmpfs", { "nosuid", "nodev", "mode=1777" } });
    if (options.system_paths == SystemPaths::Masked) {
        spec.masked_paths = default_masked_paths();
        spec.readonly_paths = default_readonly_paths();
    }
    // After the defaults, so that a volume may cover one of their paths.
    for (auto const& volume : options.volumes) {
        std::vector<std::string> mount_options { "rbind", "rprivate" };
        if (volume.access == VolumeAccess::ReadOnly)
            mount_options.push_back("ro");
        spec.mounts.push_back({ volume.container_path, "bind", volume.host_path, std::move(mount_options) });
    }
    spec.seccomp_kind = options.seccomp == SeccompMode::Default ? SeccompKind::Builtin : SeccompKind::None;

    if (has_cgroup)
        spec.cgroups_path = container_cgroup_name(::getpid());
    // Nothing pauses or updates it: no freezer or blkio hierarchy on v1.
    spec.cgroup_controllers = CgroupControllers::Limits;
    auto rules = default_device_rules();
    spec.device_rules.assign(rules.begin(), rules.end());
    spec.restrict_devices = restrict_devices;
    return spec;
}

}
