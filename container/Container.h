#pragma once

#include "common/CommandSettings.h"
#include "network/Address.h"
#include "network/PortMapping.h"

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>
#include <sys/types.h>
#include <optional>
#include <string>
#include <vector>

namespace vmm {
class Cgroup;
}

namespace vmm::container {

enum class NetworkMode {
    None, // A new network namespace with only loopback, brought up.
    Host, // The host's network namespace.
    Bridge, // A new network namespace whose eth0 is a veth on the bridge (vmm0), with a leased address.
};

// What `--net bridge` takes from the command line (network/ does the rest).
struct BridgeOptions {
    std::string name { "vmm0" };                 // --bridge
    std::optional<network::Subnet> subnet;       // --subnet
    std::optional<network::Ipv4Address> address; // --ip
    std::optional<network::MacAddress> mac;      // --mac
    std::vector<network::PortMapping> published_ports; // -p
};

enum class Rootless {
    No,
    Yes,
};

enum class TerminalMode {
    Inherit, // The container gets vmm's stdin, stdout and stderr as they are.
    Pseudo,  // A pty of its own, relayed to vmm's terminal (interactive use).
};

// The isolation `vmm --container` can be asked to leave out, one layer at a
// time (as `docker run --security-opt` and `podman run --cgroups` can), so
// that what each layer costs can be measured (scripts/bench-container).
enum class SeccompMode {
    Default,    // vmm's built-in profile.
    Unconfined, // --security-opt seccomp=unconfined: no filter.
};

enum class SystemPaths {
    Masked,     // /proc and /sys paths masked and read-only, as runc does.
    Unconfined, // --security-opt systempaths=unconfined: left as mounted.
};

// Where a layered directory rootfs's writes go (an ext4 image is always
// written in place; a tar archive's tree is vmm's cache and never is).
enum class DirectoryWrites {
    Overlay, // An overlay's upper layer, removed with the container.
    InPlace, // The directory itself, as `bwrap --bind` and runc write it.
};

enum class CgroupMode {
    Enabled,  // A cgroup of its own (as root always: the device allowlist).
    Disabled, // --cgroups disabled: none, no limits, and no CAP_MKNOD.
};

enum class VolumeAccess {
    ReadWrite,
    ReadOnly, // HOST_PATH:PATH:ro
};

// --volume HOST_PATH:PATH[:ro|rw]: a host directory or file bound into the
// container (recursively), where what the container writes outlives it.
struct Volume {
    std::string host_path;      // Absolute, its symlinks resolved.
    std::string container_path; // Absolute; made in the container's root if missing.
    VolumeAccess access { VolumeAccess::ReadWrite };
};

enum class RootAccess {
    ReadWrite,
    ReadOnly, // ROOTFS,ro: the root is read-only, and an image shared with other read-only users.
};

struct ContainerOptions {
    std::string rootfs;                  // A directory or an ext4 image.
    RootAccess root_access { RootAccess::ReadWrite };
    std::vector<std::string> command;    // Empty: guest/init starts a shell.
    CommandSettings command_settings;    // -e, -w and -u, which guest/init applies.
    std::optional<uint64_t> memory_limit; // --mem, bytes.
    std::optional<double> cpus;          // --cpus, CPU quota in CPUs.
    std::optional<uint64_t> pids_limit;  // --pids.
    std::string hostname { "vmm" };
    NetworkMode network { NetworkMode::None };
    BridgeOptions bridge;
    Rootless rootless { Rootless::No };
    TerminalMode terminal { TerminalMode::Inherit };
    SeccompMode seccomp { SeccompMode::Default };
    SystemPaths system_paths { SystemPaths::Masked };
    CgroupMode cgroups { CgroupMode::Enabled };
    DirectoryWrites directory_writes { DirectoryWrites::Overlay }; // --root-writes.
    std::vector<Volume> volumes;                                   // --volume, in order.
    bool print_timings { false }; // --timings (or -v): boot marker and exit times on stderr.
};

struct ContainerSpec;

// What the caller of the engine hands over beside the spec (OCI's command
// line gives these).
struct LaunchContext {
    int console_socket_fd { -1 }; // Where a Pseudo terminal's master is sent (OCI --console-socket).
    int start_fd { -1 };          // create: the child waits until a byte can be read here (the exec fifo).
    int preserve_fds { 0 };       // Fds 3..3+N-1 reach the process (OCI --preserve-fds).
    bool print_timings { false };
    // Fds of the caller's that the container's process closes first thing
    // (e.g. the state directory's lock, which it would otherwise hold).
    std::vector<int> close_in_child;
    // The OCI state JSON the hooks read on stdin, for the container's PID
    // and a status ("creating", "created"); empty: no hooks.
    std::function<std::string(pid_t, std::string_view)> hook_state;
};

// Runs guest/init (/sbin/init of the rootfs) as PID 1 of a new container with
// `options.command`, waits for it and returns its exit status (128 + signal
// when it was killed). Throws vmm::Error, with one line naming the problem,
// for bad input or a failed set-up step; nothing is left mounted and no
// cgroup is left behind in either case. The options become a ContainerSpec
// (spec_from_options) and run as every other container does.
int run(ContainerOptions const& options);

// Runs the container of `spec` and waits for its first process: its exit
// status. Its cgroup is removed afterwards.
int run(ContainerSpec const& spec, LaunchContext const& context);

// OCI create: sets the container up, leaves its process waiting on
// `context.start_fd` (which start writes) and returns its PID; the cgroup
// stays until delete. On failure nothing is left (no process, no cgroup).
pid_t create(ContainerSpec const& spec, LaunchContext const& context);

// Why create's process is gone before create could hand it over, from its
// `status` as a shell reports it (-1: unknown) and its cgroup's limit
// events: "container ID: its process died during create: HOW", where HOW is
// the memory limit that the out-of-memory killer enforced, the signal or
// the exit status (runc fails such a create with "unable to set memory
// limit").
std::string death_during_create(ContainerSpec const& spec, int status, Cgroup const* cgroup);

}
