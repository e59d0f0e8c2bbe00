#pragma once

#include "container/Capabilities.h"
#include "container/Container.h"
#include "common/cgroup/Cgroup.h"
#include "common/cgroup/DeviceRules.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace vmm::container {

// The one description of a container that the engine runs: the OCI
// runtime-spec's config.json (oci/ reads it into this) and `vmm --container`'s
// flags (OptionsSpec.cpp turns them into this) both end here, so every
// container goes through the same set-up code. Field names follow the spec.

enum class NamespaceType {
    Mount,
    Pid,
    Uts,
    Ipc,
    Network,
    User,
    Cgroup,
    Time,
};

struct NamespaceSpec {
    NamespaceType type;
    std::string path; // Empty: a new namespace; else the one to join.
};

// One line of uid_map/gid_map.
struct IdMapEntry {
    uint32_t container_id;
    uint32_t host_id;
    uint32_t size;
};

struct MountSpec {
    std::string destination; // Inside the container.
    std::string type;        // "bind" (or a bind option) or a file system type.
    std::string source;
    std::vector<std::string> options; // As in fstab: "ro", "nosuid", "mode=755", "rbind", "rprivate", ...
};

struct ResourceLimit {
    int resource; // RLIMIT_*.
    uint64_t soft;
    uint64_t hard;
};

enum class ProcessTerminal {
    None,   // stdio as the runtime was given it.
    Pseudo, // A pty of the container's devpts; the master goes to the console socket.
};

struct ProcessSpec {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd { "/" };
    uint32_t uid { 0 };
    uint32_t gid { 0 };
    std::vector<uint32_t> additional_gids;
    std::optional<mode_t> umask;
    CapabilitySets capabilities;
    std::vector<ResourceLimit> rlimits;
    bool no_new_privileges { true };
    ProcessTerminal terminal { ProcessTerminal::None };
    std::optional<int> oom_score_adj;
};

// A node the runtime makes in the container's /dev.
struct DeviceNodeSpec {
    std::string path;
    char type { 'c' }; // 'c', 'b', 'u' (unbuffered character) or 'p' (fifo).
    int64_t major { 0 };
    int64_t minor { 0 };
    mode_t file_mode { 0666 };
    uint32_t uid { 0 };
    uint32_t gid { 0 };
};

enum class SeccompKind {
    None,    // No filter.
    Builtin, // vmm's own profile, compiled at build time (SeccompProfile.h).
    Spec,    // The program compiled from the config's profile (SeccompSpec.h).
};

// The config's seccomp profile, its names and actions already checked and
// translated to libseccomp's values (SCMP_ACT_*, SCMP_CMP_*), so that
// compiling it cannot meet anything unknown.
struct SeccompArgumentSpec {
    unsigned index;
    uint64_t value;
    uint64_t value_two;
    int operation; // enum scmp_compare.
};

struct SeccompSyscallSpec {
    std::vector<std::string> names;
    uint32_t action;
    std::vector<SeccompArgumentSpec> arguments;
};

struct SeccompSpec {
    uint32_t default_action { 0 };
    std::vector<std::string> architectures; // libseccomp's names ("x86_64", "x86", ...).
    std::vector<SeccompSyscallSpec> syscalls;
    bool log { false }; // SECCOMP_FILTER_FLAG_LOG.
};

struct HookSpec {
    std::string path;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::optional<int> timeout_seconds;
};

struct HooksSpec {
    std::vector<HookSpec> prestart;
    std::vector<HookSpec> create_runtime;
    std::vector<HookSpec> create_container;
    std::vector<HookSpec> start_container;
    std::vector<HookSpec> poststart;
    std::vector<HookSpec> poststop;
};

// How the root file system is prepared.
enum class RootSetup {
    Bundle,  // OCI: root.path bound as it is (written unless readonly).
    Layered, // vmm --container: a directory under an overlay, an ext4 image or a tar.
};

// How the container's first process starts.
enum class InitKind {
    Direct,   // OCI: process.args[0] is PID 1.
    Embedded, // vmm --container: guest/init from vmm's memfd runs process.args.
};

// Mount targets whose last component is a symlink.
enum class MountTargetSymlinks {
    Refuse,           // An error naming it (vmm --container).
    FollowInsideRoot, // Resolved inside the root, never on the host (OCI).
};

struct ContainerSpec {
    std::string oci_version { "1.0.2" };
    std::string id;          // OCI container id (empty for vmm --container).
    std::string bundle;      // OCI bundle directory.
    ProcessSpec process;
    std::string root_path;
    bool root_readonly { false };
    RootSetup root_setup { RootSetup::Bundle };
    DirectoryWrites directory_writes { DirectoryWrites::Overlay }; // For RootSetup::Layered.
    InitKind init_kind { InitKind::Direct };
    bool require_shell { false }; // Embedded init without a command starts the tree's shell.
    std::vector<std::string> init_options; // Embedded init's options before "--" (its --user=, --workdir=, --env=).
    MountTargetSymlinks mount_target_symlinks { MountTargetSymlinks::FollowInsideRoot };
    std::string hostname;
    std::vector<MountSpec> mounts;
    std::vector<NamespaceSpec> namespaces;
    std::vector<IdMapEntry> uid_mappings;
    std::vector<IdMapEntry> gid_mappings;
    std::string cgroups_path; // Relative to each hierarchy; empty: no cgroup of its own.
    CgroupControllers cgroup_controllers { CgroupControllers::All };
    ResourceLimits resources;
    std::vector<DeviceNodeSpec> devices;        // Beyond the default ones.
    std::vector<DeviceRule> device_rules;       // What the device cgroup allows.
    bool restrict_devices { true };
    std::map<std::string, std::string> sysctl;
    std::vector<std::string> masked_paths;
    std::vector<std::string> readonly_paths;
    SeccompKind seccomp_kind { SeccompKind::None };
    SeccompSpec seccomp; // For SeccompKind::Spec.
    std::string rootfs_propagation;
    HooksSpec hooks;
    // Whether the engine adds its default /dev nodes (null, zero, ...).
    bool default_devices { true };
    // vmm --container --net bridge: eth0 on the bridge (the new network
    // namespace's), configured by the parent before the process goes on.
    std::optional<BridgeOptions> bridge;
    // A host file shown read-only at /etc/resolv.conf (bridge mode), unless
    // the tree's own /etc/resolv.conf is a symlink: that tree manages it.
    std::string resolver_configuration;

    bool has_namespace(NamespaceType type) const
    {
        for (auto const& space : namespaces) {
            if (space.type == type)
                return true;
        }
        return false;
    }
    NamespaceSpec const* find_namespace(NamespaceType type) const
    {
        for (auto const& space : namespaces) {
            if (space.type == type)
                return &space;
        }
        return nullptr;
    }
    // A namespace of `type` that the container makes (not one joined by path).
    bool makes_namespace(NamespaceType type) const
    {
        auto const* space = find_namespace(type);
        return space && space->path.empty();
    }
};

// The OCI runtime-spec's default masked and read-only paths (runc's).
std::vector<std::string> default_masked_paths();
std::vector<std::string> default_readonly_paths();
// The default mounts of `runc spec`: /proc, /dev (tmpfs), /dev/pts, /dev/shm,
// /dev/mqueue, a read-only /sys and the container's cgroup, read-only, at
// /sys/fs/cgroup.
std::vector<MountSpec> default_mounts();
// Docker's default capability set as a mask (all five sets of `runc spec`).
CapabilitySets default_capability_sets();

}
