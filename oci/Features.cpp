// features and spec: what this runtime supports, and a default config.

#include "oci/Runtime.h"

#include "common/Error.h"
#include "container/Capabilities.h"
#include "container/ContainerSpec.h"
#include "oci/State.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm::oci {

using nlohmann::json;

int print_features()
{
    json capabilities = json::array();
    for (int capability = 0; capability <= container::last_capability(); ++capability)
        capabilities.push_back(container::capability_name(capability));
    json features {
        { "ociVersionMin", "1.0.0" },
        { "ociVersionMax", "1.1.0" },
        { "hooks", { "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop" } },
        { "mountOptions", { "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "noatime", "strictatime", "relatime", "atime", "nodiratime", "diratime",
                              "nosymfollow", "symfollow", "bind", "rbind", "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable" } },
        { "linux",
            {
                { "namespaces", { "cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time" } },
                { "capabilities", capabilities },
                { "cgroup", { { "v1", true }, { "v2", true }, { "systemd", false }, { "systemdUser", false } } },
                { "seccomp",
                    {
                        { "enabled", true },
                        { "actions", { "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP" } },
                        { "operators", { "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE" } },
                        { "archs", { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM" } },
                    } },
                { "apparmor", { { "enabled", false } } },
                { "selinux", { { "enabled", false } } },
            } },
        { "annotations", { { "org.opencontainers.runc.checkpoint.enabled", "false" }, { "io.github.vmm.runtime", "vmm" } } },
    };
    fmt::print("{}\n", features.dump(2));
    return 0;
}

int write_default_spec(std::string const& bundle, bool rootless)
{
    auto path = bundle + "/config.json";
    if (::access(path.c_str(), F_OK) == 0)
        throw Error(fmt::format("{} exists already: remove it first", path));
    json mounts = json::array();
    for (auto const& mount : container::default_mounts())
        mounts.push_back({ { "destination", mount.destination }, { "type", mount.type }, { "source", mount.source }, { "options", mount.options } });
    json capabilities = { "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" };
    json namespaces = json::array({ { { "type", "pid" } }, { { "type", "network" } }, { { "type", "ipc" } }, { { "type", "uts" } }, { { "type", "mount" } }, { { "type", "cgroup" } } });
    json config {
        { "ociVersion", "1.0.2" },
        { "process",
            {
                { "terminal", true },
                { "user", { { "uid", 0 }, { "gid", 0 } } },
                { "args", { "sh" } },
                { "env", { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm" } },
                { "cwd", "/" },
                { "capabilities", { { "bounding", capabilities }, { "effective", capabilities }, { "permitted", capabilities }, { "ambient", capabilities } } },
                { "rlimits", { { { "type", "RLIMIT_NOFILE" }, { "hard", 1024 }, { "soft", 1024 } } } },
                { "noNewPrivileges", true },
            } },
        { "root", { { "path", "rootfs" }, { "readonly", true } } },
        { "hostname", "vmm" },
        { "mounts", mounts },
        { "linux",
            {
                { "resources", { { "devices", { { { "allow", false }, { "access", "rwm" } } } } } },
                { "namespaces", namespaces },
                { "maskedPaths", container::default_masked_paths() },
                { "readonlyPaths", container::default_readonly_paths() },
            } },
    };
    if (rootless) {
        config["linux"]["namespaces"].push_back({ { "type", "user" } });
        config["linux"]["uidMappings"] = { { { "containerID", 0 }, { "hostID", ::geteuid() }, { "size", 1 } } };
        config["linux"]["gidMappings"] = { { { "containerID", 0 }, { "hostID", ::getegid() }, { "size", 1 } } };
    }
    write_file_atomically(path, config.dump(2) + "\n");
    return 0;
}

}
