#include "cli/OciCommand.h"

#include "common/Error.h"
#include "oci/Log.h"
#include "oci/Runtime.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <charconv>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace vmm::cli {

namespace {

std::string_view program_name(char const* path)
{
    std::string_view name(path);
    auto slash = name.rfind('/');
    return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

// exec --preserve-fds: a whole non-negative number, as runc's typed flag.
int parse_fd_count(std::string const& text)
{
    int count = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || count < 0)
        throw Error(fmt::format("exec --preserve-fds: '{}' is not a number of file descriptors", text));
    return count;
}

void parse_exec_arguments(std::vector<std::string> const& arguments, oci::ExecOptions& options)
{
    size_t index = 0;
    auto value = [&](std::string const& flag, std::string const& argument) {
        auto equals = argument.find('=');
        if (equals != std::string::npos)
            return argument.substr(equals + 1);
        if (index + 1 >= arguments.size())
            throw Error(fmt::format("exec: {} needs a value", flag));
        return arguments[++index];
    };
    for (; index < arguments.size(); ++index) {
        auto const& argument = arguments[index];
        if (argument.empty() || argument[0] != '-')
            break;
        auto flag = argument.substr(0, argument.find('='));
        if (flag == "-p" || flag == "--process")
            options.process_file = value(flag, argument);
        else if (flag == "--console-socket")
            options.console_socket = value(flag, argument);
        else if (flag == "--pid-file")
            options.pid_file = value(flag, argument);
        else if (flag == "--cwd")
            options.cwd = value(flag, argument);
        else if (flag == "-e" || flag == "--env")
            options.env.push_back(value(flag, argument));
        else if (flag == "-u" || flag == "--user")
            options.user = value(flag, argument);
        else if (flag == "--preserve-fds")
            options.preserve_fds = parse_fd_count(value(flag, argument));
        else if (flag == "-t" || flag == "--tty")
            options.tty = true;
        else if (flag == "-d" || flag == "--detach")
            options.detach = true;
        else if (flag == "--process-label" || flag == "--apparmor" || flag == "--cgroup")
            spdlog::warn("exec: {} {} is not supported and is ignored", flag, value(flag, argument));
        else if (flag == "--no-new-privs")
            options.no_new_privileges = true;
        else
            throw Error(fmt::format("exec: unknown flag {}", argument));
    }
    if (index >= arguments.size())
        throw Error("exec: a container id is needed");
    options.id = arguments[index++];
    options.command.assign(arguments.begin() + static_cast<long>(index), arguments.end());
}

}

bool is_oci_invocation(int argc, char** argv)
{
    return (argc > 0 && program_name(argv[0]) == "vmm-runc") || (argc > 1 && std::strcmp(argv[1], "oci") == 0);
}

int run_oci_command(int argc, char** argv)
{
    // `vmm oci ARGS` is `vmm-runc ARGS`.
    std::vector<std::string> arguments(argv + 1, argv + argc);
    if (program_name(argv[0]) != "vmm-runc" && !arguments.empty())
        arguments.erase(arguments.begin());

    CLI::App app { "vmm-runc: vmm's container engine as an OCI runtime (runc's command line)" };
    app.require_subcommand(1);
    oci::GlobalOptions global;
    std::string log_file;
    std::string log_format = "text";
    bool systemd_cgroup = false;
    bool debug = false;
    app.add_option("--root", global.root, "Where container state lives")->capture_default_str();
    app.add_option("--log", log_file, "Also log to this file");
    app.add_option("--log-format", log_format, "text or json")->check(CLI::IsMember({ "text", "json" }));
    app.add_flag("--systemd-cgroup", systemd_cgroup, "Refused: vmm manages cgroups itself");
    app.add_flag("--debug", debug, "Log what vmm does");
    std::string ignored_criu;
    app.add_option("--criu", ignored_criu)->group("");
    bool ignored_rootless = false;
    app.add_option("--rootless", ignored_rootless)->group("");
    app.set_version_flag("-v,--version", "vmm-runc (vmm) 1.0\nspec: 1.1.0");

    oci::CreateOptions create_options;
    auto add_create_flags = [&](CLI::App* command) {
        command->add_option("id", create_options.id, "Container id")->required();
        command->add_option("-b,--bundle", create_options.bundle, "The bundle directory (config.json)");
        command->add_option("--pid-file", create_options.pid_file, "Write the container's PID here");
        command->add_option("--console-socket", create_options.console_socket, "A unix socket that gets the pty master");
        command->add_option("--preserve-fds", create_options.preserve_fds, "Pass N fds after stdio");
        command->add_flag("--no-pivot,--no-new-keyring")->group("");
    };
    auto* create = app.add_subcommand("create", "Create a container (its process waits for start)");
    add_create_flags(create);
    auto* run = app.add_subcommand("run", "Create and start a container");
    add_create_flags(run);
    bool detach = false;
    run->add_flag("-d,--detach", detach, "Return once started");

    std::string id;
    auto* start = app.add_subcommand("start", "Start a created container");
    start->add_option("id", id)->required();
    auto* state = app.add_subcommand("state", "Print a container's state JSON");
    state->add_option("id", id)->required();
    std::string signal = "SIGTERM";
    bool all = false;
    auto* kill = app.add_subcommand("kill", "Send a signal to a container's process");
    kill->add_option("id", id)->required();
    kill->add_option("signal", signal, "A number or a name")->capture_default_str();
    kill->add_flag("-a,--all", all, "Signal every process in the container");
    bool force = false;
    auto* remove = app.add_subcommand("delete", "Delete a stopped container (--force: any)");
    remove->add_option("id", id)->required();
    remove->add_flag("-f,--force", force, "Kill it first if it runs");
    auto* pause = app.add_subcommand("pause", "Freeze every process of a container");
    pause->add_option("id", id)->required();
    auto* resume = app.add_subcommand("resume", "Thaw a paused container");
    resume->add_option("id", id)->required();
    std::string format = "table";
    bool quiet = false;
    auto* list = app.add_subcommand("list", "List the containers under --root");
    list->add_option("-f,--format", format)->check(CLI::IsMember({ "table", "json" }));
    list->add_flag("-q,--quiet", quiet);
    auto* ps = app.add_subcommand("ps", "List a container's processes");
    ps->add_option("-f,--format", format)->check(CLI::IsMember({ "table", "json" }));
    ps->add_option("id", id)->required();
    ps->allow_extras();
    auto* features = app.add_subcommand("features", "Print what this runtime supports (JSON)");
    std::string spec_bundle = ".";
    bool spec_rootless = false;
    auto* spec = app.add_subcommand("spec", "Write a default config.json");
    spec->add_option("-b,--bundle", spec_bundle);
    spec->add_flag("--rootless", spec_rootless);

    // exec's own arguments are parsed by hand: everything after the id is
    // the command, flags included (`exec ID sh -c ...`).
    oci::ExecOptions exec_options;
    auto* exec = app.add_subcommand("exec", "Run a further process in a container: exec [flags] ID [COMMAND...]");
    exec->allow_extras();
    exec->prefix_command();
    exec->footer("Flags (before ID):\n"
                 "  -p,--process FILE       the process as config.json's process object ('-': stdin)\n"
                 "  -t,--tty                a terminal for the process\n"
                 "  --console-socket PATH   where the terminal's master goes (with --tty)\n"
                 "  -d,--detach             do not wait for the process\n"
                 "  --pid-file PATH         write the process's PID there\n"
                 "  --cwd DIR               its working directory\n"
                 "  -e,--env KEY=VALUE      an environment variable (may repeat)\n"
                 "  -u,--user UID[:GID]     who runs it\n"
                 "  --preserve-fds N        pass N file descriptors after stdio\n"
                 "  --no-new-privs          no_new_privs for the process, whatever its config says\n"
                 "  --process-label, --apparmor, --cgroup   accepted and ignored, with a warning");

    oci::UpdateOptions update_options;
    auto* update = app.add_subcommand("update", "Change a container's cgroup limits");
    update->add_option("id", update_options.id)->required();
    update->add_option("-r,--resources", update_options.resources_file, "linux.resources JSON ('-': stdin)");
    update->add_option("-m,--memory", update_options.memory);
    update->add_option("--cpu-quota", update_options.cpu_quota);
    update->add_option("--cpu-period", update_options.cpu_period);
    update->add_option("--cpu-share", update_options.cpu_shares);
    update->add_option("--pids-limit", update_options.pids_limit);

    try {
        std::vector<std::string> reversed(arguments.rbegin(), arguments.rend());
        app.parse(reversed);
    } catch (CLI::ParseError const& error) {
        if (error.get_exit_code() == 0)
            return app.exit(error);
        std::fprintf(stderr, "vmm-runc: %s (see vmm-runc --help)\n", error.what());
        return 2;
    }

    try {
        oci::set_up_logging(log_file, log_format == "json" ? oci::LogFormat::Json : oci::LogFormat::Text, debug);
        if (systemd_cgroup)
            throw Error("--systemd-cgroup is not supported: vmm manages the container's cgroup itself (use cgroupfs, e.g. podman --cgroup-manager cgroupfs)");
        if (create->parsed())
            return oci::create_container(global, create_options);
        if (run->parsed())
            return oci::run_container(global, create_options, detach);
        if (start->parsed())
            return oci::start_container(global, id);
        if (state->parsed())
            return oci::print_state(global, id);
        if (kill->parsed())
            return oci::kill_container(global, id, signal, all);
        if (remove->parsed())
            return oci::delete_container(global, id, force);
        if (pause->parsed())
            return oci::pause_container(global, id);
        if (resume->parsed())
            return oci::resume_container(global, id);
        if (list->parsed())
            return oci::list_containers(global, format == "json", quiet);
        if (ps->parsed())
            return oci::list_processes(global, id, format == "json");
        if (features->parsed())
            return oci::print_features();
        if (spec->parsed())
            return oci::write_default_spec(spec_bundle, spec_rootless);
        if (exec->parsed()) {
            parse_exec_arguments(exec->remaining(), exec_options);
            return oci::exec_in_container(global, exec_options);
        }
        if (update->parsed())
            return oci::update_container(global, update_options);
        return 2;
    } catch (Error const& error) {
        oci::log_error(error.what());
        return 1;
    } catch (std::exception const& error) {
        oci::log_error(std::string("internal error: ") + error.what());
        return 1;
    }
}

}
