#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vmm::cli {

// `vmm --container ROOTFS [options] [-- CMD...]`: runs ROOTFS as a container.
// Its options sit on the top level, as `docker run`'s do on its command.
class ContainerCommand {
public:
    explicit ContainerCommand(CLI::App& app);

    bool was_given() const { return m_rootfs.has_value(); }
    // Options of this command given although another command runs.
    std::vector<std::string> options_given() const;
    int run(std::vector<std::string> command, bool verbose);

private:
    std::vector<CLI::Option*> m_options;
    // Absent when not given (an empty value is given, and refused).
    std::optional<std::string> m_rootfs;
    std::optional<std::string> m_memory;
    std::optional<std::string> m_cpus;
    std::optional<std::string> m_pids;
    std::string m_hostname { "vmm" };
    std::string m_network { "none" };
    // Absent when not given (an empty value is given, and refused).
    std::optional<std::string> m_bridge;
    std::optional<std::string> m_subnet;
    std::optional<std::string> m_address;
    std::optional<std::string> m_mac;
    std::vector<std::string> m_published_ports;
    std::vector<std::string> m_security_options;
    std::vector<std::string> m_volumes;
    std::vector<std::string> m_environment;
    std::optional<std::string> m_user;
    std::optional<std::string> m_workdir;
    std::string m_cgroups { "enabled" };
    std::string m_root_writes { "overlay" };
    bool m_rootless { false };
    bool m_tty { false };
    bool m_timings { false };
};

}
