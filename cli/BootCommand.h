#pragma once

#include "network/Bridge.h"
#include "vmm/machine/BootOptions.h"

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vmm::cli {

// `vmm boot BZIMAGE ROOTFS [options] [-- CMD...]`: boots a Linux guest.
class BootCommand {
public:
    explicit BootCommand(CLI::App& app);

    bool was_given() const { return m_subcommand->parsed(); }
    int run(std::vector<std::string> command);

private:
    // ROOTFS (first, when given) and each --disk; throws a UsageError for a
    // malformed one or for one image given twice.
    std::vector<DiskOptions> parse_disks() const;

    CLI::App* m_subcommand { nullptr };
    BootOptions m_options;
    // Absent when not given; an empty value is given, and refused.
    std::optional<std::string> m_rootfs;
    std::vector<std::string> m_extra_disks;
    std::optional<std::string> m_initrd;
    std::optional<std::string> m_memory;
    std::optional<std::string> m_cpus;
    // Longer polls only burn a core: a wake-up costs less than this.
    static constexpr uint32_t max_block_poll_us = 1000;
    uint32_t m_block_poll_us { 0 };
    uint32_t m_block_queues { 0 }; // 0: one per vCPU.
    std::string m_console { "serial" };
    bool m_huge_pages { false };
    bool m_jail { false };
    std::vector<std::string> m_environment;
    std::optional<std::string> m_user; // Absent when not given.
    std::optional<std::string> m_workdir;
    std::string m_network { "none" };
    std::string m_bridge { network::default_bridge_name };
    // Absent when not given (an empty value is given, and refused).
    std::optional<std::string> m_subnet;
    std::optional<std::string> m_address;
    std::optional<std::string> m_mac;
    std::vector<std::string> m_published_ports;
};

}
