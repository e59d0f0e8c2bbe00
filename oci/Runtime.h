#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vmm::oci {

// The runc-compatible commands. Each returns the process's exit status
// and throws vmm::Error (one line) for what it refuses.

struct GlobalOptions {
    std::string root { "/run/vmm-oci" };
};

struct CreateOptions {
    std::string id;
    std::string bundle { "." };
    std::string pid_file;
    std::string console_socket;
    int preserve_fds { 0 };
};

int create_container(GlobalOptions const& global, CreateOptions const& options);
int start_container(GlobalOptions const& global, std::string const& id);
int print_state(GlobalOptions const& global, std::string const& id);
int kill_container(GlobalOptions const& global, std::string const& id, std::string const& signal, bool all);
int delete_container(GlobalOptions const& global, std::string const& id, bool force);
// create + start, then (unless detached) wait for the process and delete.
int run_container(GlobalOptions const& global, CreateOptions const& options, bool detach);
int pause_container(GlobalOptions const& global, std::string const& id);
int resume_container(GlobalOptions const& global, std::string const& id);
int list_containers(GlobalOptions const& global, bool json_format, bool quiet);
int list_processes(GlobalOptions const& global, std::string const& id, bool json_format);
int print_features();
// Writes a default config.json (rootfs "rootfs", `sh`) into `bundle`.
int write_default_spec(std::string const& bundle, bool rootless);

struct ExecOptions {
    std::string id;
    std::string process_file;
    std::vector<std::string> command;
    std::string console_socket;
    std::string pid_file;
    std::string cwd;
    std::vector<std::string> env;
    std::string user; // UID[:GID]
    bool tty { false };
    bool detach { false };
    bool no_new_privileges { false }; // --no-new-privs: set it whatever the process says.
    int preserve_fds { 0 };
};

int exec_in_container(GlobalOptions const& global, ExecOptions const& options);

struct UpdateOptions {
    std::string id;
    std::string resources_file; // "-": stdin.
    std::string memory;
    std::string cpu_quota;
    std::string cpu_period;
    std::string cpu_shares;
    std::string pids_limit;
};

int update_container(GlobalOptions const& global, UpdateOptions const& options);
// update --memory: bytes, or runc's sizes ("100M" is 104857600: k, m, g, t
// and p are powers of 1024, "KiB"/"kb" spellings too); "-1" is no limit.
uint64_t parse_memory_size(std::string const& text);

// A signal by number ("9") or name ("KILL", "SIGKILL").
int parse_signal(std::string const& text);

}
