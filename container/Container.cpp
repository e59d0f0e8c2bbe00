#include "container/Container.h"

#include "common/Error.h"
#include "common/FdPassing.h"
#include "common/FileDescriptor.h"
#include "common/ParentDeath.h"
#include "common/Timings.h"
#include "common/cgroup/Cgroup.h"
#include "container/CgroupView.h"
#include "container/ContainerInit.h"
#include "container/ContainerProcess.h"
#include "container/ContainerSpec.h"
#include "container/Hooks.h"
#include "container/OptionsSpec.h"
#include "container/SeccompProfile.h"
#include "container/SeccompSpec.h"
#include "container/SignalProxy.h"
#include "container/ContainerTerminal.h"
#include "container/InitProgram.h"
#include "container/LaunchSteps.h"
#include "container/Namespaces.h"
#include "container/RootFilesystem.h"
#include "container/WritableLayer.h"
#include "network/Endpoint.h"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <optional>
#include <sched.h>
#include <utility>
#include <unistd.h>

namespace vmm::container {

namespace {

enum class Lifecycle {
    Attached, // run: wait for the process, then remove everything.
    Detached, // create: return the PID; the cgroup stays for delete.
};

IdRange first_range(std::vector<IdMapEntry> const& entries)
{
    for (auto const& entry : entries) {
        if (entry.container_id == 0)
            return { entry.host_id, entry.size };
    }
    return { 0, 1 };
}

// The child shares vmm's memory until its exec (ChildMemory::Shared) where
// vmm has nothing to do for it after the clone: no id maps of a user
// namespace to write, no veth to move into its network namespace, no hooks
// to run (nor any the child runs while vmm waits), no start to wait for.
ChildMemory child_memory(ContainerSpec const& spec, LaunchContext const& context, Lifecycle lifecycle, UserNamespace user_namespace)
{
    auto const& hooks = spec.hooks;
    bool const has_hooks = !hooks.prestart.empty() || !hooks.create_runtime.empty() || !hooks.create_container.empty() || !hooks.start_container.empty();
    bool const shareable = lifecycle == Lifecycle::Attached && user_namespace == UserNamespace::No && !spec.bridge && !has_hooks && context.start_fd < 0;
    return shareable ? ChildMemory::Shared : ChildMemory::Copied;
}

// What a child that shares vmm's memory starts with.
struct SharedChild {
    ContainerInitContext context;
    std::span<int const> close_first;
};

int start_shared_child(void* argument)
{
    auto const& child = *static_cast<SharedChild const*>(argument);
    for (int fd : child.close_first)
        ::close(fd);
    become_container_init(child.context);
}

struct LaunchResult {
    int status { 0 };
    pid_t pid { -1 };
};

LaunchResult launch(ContainerSpec const& spec, LaunchContext const& context, Lifecycle lifecycle)
{
    auto const user_namespace = spec.has_namespace(NamespaceType::User) ? UserNamespace::Yes : UserNamespace::No;
    bool const new_user_namespace = spec.makes_namespace(NamespaceType::User);

    RootSource root;
    std::optional<WritableLayer> writable_layer;
    if (spec.root_setup == RootSetup::Layered) {
        root = open_root_source(spec.root_path, spec.directory_writes, spec.root_readonly ? ImageAccess::ReadOnly : ImageAccess::ReadWrite);
        if (spec.require_shell)
            check_has_shell(root);
    }
    // Before the container process, so that it is gone (reaped) first.
    std::optional<network::Endpoint> endpoint;
    if (spec.bridge)
        endpoint.emplace(create_endpoint(*spec.bridge));

    // The parent writes the cgroup's limits and device rules while the child
    // mounts its root (which waits for the parent's byte before anything of
    // the container's runs). v2 clones the child into its cgroup, made
    // before the clone. A v1 one (four directories, and device rules taken
    // one by one: deny all, then allow each) is made after the clone too,
    // and the child joins it with the byte, once the rules are all in. With
    // hooks, which may change the cgroup (a device plugin's prestart hook
    // does) or look for the container in it, the cgroup is made before the
    // clone and written before they run; so it is where the container's
    // view binds its cgroup's directories (container/CgroupView.h).
    bool const has_runtime_hooks = context.hook_state && (!spec.hooks.prestart.empty() || !spec.hooks.create_runtime.empty());
    bool const has_early_hooks = has_runtime_hooks || (context.hook_state && !spec.hooks.create_container.empty());
    bool const restrict_devices = spec.restrict_devices && ::geteuid() == 0;
    auto const memory = child_memory(spec, context, lifecycle, user_namespace);
    auto const cgroup_join = memory == ChildMemory::Copied && !spec.cgroups_path.empty() && !has_early_hooks && detect_cgroup_version() == CgroupVersion::V1 && !binds_cgroup_v1_directories(spec)
        ? CgroupJoin::WithPreparedByte
        : CgroupJoin::First;
    bool devices_after_clone = false;
    std::unique_ptr<Cgroup> cgroup;
    if (!spec.cgroups_path.empty() && cgroup_join == CgroupJoin::First) {
        cgroup = create_cgroup(spec.cgroups_path, CgroupLifetime::Temporary, spec.cgroup_controllers);
        devices_after_clone = restrict_devices && cgroup->restricts_devices_in_one_step() && !has_runtime_hooks && memory == ChildMemory::Copied;
        if (restrict_devices && !devices_after_clone)
            cgroup->restrict_devices(spec.device_rules);
        cgroup->prepare_join();
    }
    auto configure_cgroup = [&] {
        cgroup->apply(spec.resources);
        if (devices_after_clone)
            cgroup->restrict_devices(spec.device_rules);
    };

    std::vector<sock_filter> seccomp_program;
    std::span<sock_filter const> seccomp;
    if (spec.seccomp_kind == SeccompKind::Builtin) {
        seccomp = precompiled_seccomp_program();
    } else if (spec.seccomp_kind == SeccompKind::Spec) {
        seccomp_program = compile_seccomp_spec(spec.seccomp);
        seccomp = seccomp_program;
    }

    auto sync = Pipe::create();
    auto errors = Pipe::create();
    if (spec.root_setup == RootSetup::Layered && user_namespace == UserNamespace::Yes && ::geteuid() == 0) {
        // Root maps the container to ids nobody has: the rootfs is shown
        // through those maps so that the container's root owns its files.
        IdMapping mapping { first_range(spec.uid_mappings), first_range(spec.gid_mappings) };
        map_root_ids(root, create_user_namespace(mapping).get());
    }
    // The overlay of a directory rootfs: the parent claims its layer and
    // mounts it after the clone, while the child makes its own mounts,
    // unless the child must mount it in its user namespace.
    bool const layer_on_disk = spec.root_setup == RootSetup::Layered && !root.directory.empty() && spec.directory_writes == DirectoryWrites::Overlay
        && ::geteuid() == 0;
    auto const parent_makes = layer_on_disk && user_namespace == UserNamespace::No && spec.has_namespace(NamespaceType::Mount)
        ? ParentMakes::Overlay
        : ParentMakes::Nothing;
    if (layer_on_disk && parent_makes == ParentMakes::Nothing) {
        auto users = user_namespace == UserNamespace::Yes ? first_range(spec.uid_mappings) : IdRange { 0, 1 };
        auto groups = user_namespace == UserNamespace::Yes ? first_range(spec.gid_mappings) : IdRange { 0, 1 };
        writable_layer.emplace(::getpid(), users, groups);
        root.writable_layer = writable_layer->path();
    }
    // What the parent prepares while the child sets up; a byte says it is
    // done. A socket, so that writing to a child that already failed gives
    // EPIPE (then its own message is read) instead of SIGPIPE.
    auto prepared = Pipe::create_socket_pair();
    FileDescriptor init_program;
    std::optional<Pipe> marker;
    if (spec.init_kind == InitKind::Embedded) {
        init_program = create_empty_init_program();
        marker = Pipe::create();
    }
    // vmm --container relays its own terminal; OCI sends the master to the console socket.
    std::optional<Pipe> terminal;
    int terminal_fd = -1;
    if (spec.process.terminal == ProcessTerminal::Pseudo) {
        if (context.console_socket_fd >= 0) {
            terminal_fd = context.console_socket_fd;
        } else {
            terminal = Pipe::create_socket_pair();
            terminal_fd = terminal->write_end.get();
        }
    }
    // Its handlers go in once the container's set-up is under way: the
    // proxied signals are held blocked from before the clone until then.
    std::optional<SignalProxy> proxy;
    if (lifecycle == Lifecycle::Attached)
        proxy.emplace(SignalProxy::Handlers::WhenForwarding);
    // The child's check that vmm did not die while its parent-death signal
    // was cleared (container/ContainerInit.cpp), where the container dies
    // with vmm; close-on-exec as every pidfd.
    FileDescriptor parent_pidfd;
    if (lifecycle == Lifecycle::Attached)
        parent_pidfd = open_own_pidfd();
    join_pid_namespace(spec);
    std::optional<SignalProxy::HeldForChild> held_signals;
    if (proxy)
        held_signals.emplace();
    // The overlay that the parent makes for a directory rootfs.
    auto make_overlay = [&] {
        writable_layer.emplace(::getpid(), IdRange { 0, 1 }, IdRange { 0, 1 });
        root.writable_layer = writable_layer->path();
        return mount_overlay(root, UserNamespace::No);
    };
    auto init_context = [&](ParentMakes child_finds) {
        return ContainerInitContext { spec, memory, root, user_namespace, cgroup.get(), cgroup_join, child_finds,
            lifecycle == Lifecycle::Attached ? ParentDeath::KillsContainer : ParentDeath::Survives, parent_pidfd.get(),
            sync.read_end.get(), errors.write_end.get(), marker ? marker->write_end.get() : -1, init_program.get(),
            prepared.read_end.get(), terminal_fd, context.start_fd, context.preserve_fds, seccomp };
    };
    auto const clone_flags = namespace_clone_flags(spec);
    int const cgroup_fd = cgroup ? cgroup->clone_into_fd() : -1;
    pid_t pid = -1;
    if (memory == ChildMemory::Shared) {
        // vmm waits from the clone to the child's exec: what the child
        // needs is made now.
        if (parent_makes == ParentMakes::Overlay)
            root.overlay_mount = make_overlay();
        if (cgroup)
            configure_cgroup();
        if (init_program.is_valid())
            fill_and_seal_init_program(init_program.get());
        SharedChild child { init_context(ParentMakes::Nothing), context.close_in_child };
        pid = clone_sharing_memory(clone_flags, cgroup_fd, start_shared_child, &child);
        // The child has executed (or failed): the overlay is in its mount
        // namespace, which alone may keep it.
        root.overlay_mount.reset();
    } else {
        pid = clone_into_namespaces(clone_flags, cgroup_fd);
    }
    if (pid == 0) {
        for (int fd : context.close_in_child)
            ::close(fd);
        sync.write_end.reset();
        errors.read_end.reset();
        if (marker)
            marker->read_end.reset();
        prepared.write_end.reset();
        if (terminal)
            terminal->read_end.reset();
        become_container_init(init_context(parent_makes));
    }
    // Destroyed before the cgroup: an error path kills and reaps the
    // container before its cgroup is removed.
    ContainerProcess init(pid);
    parent_pidfd.reset();
    // Not where the child runs createContainer hooks before its last byte:
    // they would start with the narrower set of CPUs.
    std::optional<ChildPlacement> placement;
    if (spec.hooks.create_container.empty() && memory == ChildMemory::Copied)
        placement.emplace(pid);
    sync.read_end.reset();
    errors.write_end.reset();
    if (marker)
        marker->write_end.reset();
    prepared.read_end.reset();
    if (terminal)
        terminal->write_end.reset();

    // A failure here may be the child's doing (it stopped early): its own
    // message then says what went wrong.
    try {
        if (new_user_namespace)
            write_id_maps(pid, spec.uid_mappings, spec.gid_mappings);
        if (endpoint)
            connect_to_bridge(*endpoint, pid);
        if (cgroup && has_runtime_hooks)
            configure_cgroup();
        // The go byte, then the state the child's hooks read (with the PID
        // the host sees, which the child cannot know).
        std::string go(1, '\1');
        if (context.hook_state) {
            auto state = context.hook_state(pid, "creating");
            run_hooks(spec.hooks.prestart, "prestart", state);
            run_hooks(spec.hooks.create_runtime, "createRuntime", state);
            go += context.hook_state(pid, "created");
        }
        if (memory == ChildMemory::Copied && !write_all(sync.write_end.get(), go.data(), go.size()))
            throw_system_error("write", "(container sync pipe)");
        sync.write_end.reset();
        // While the child sets up: its root's overlay, then (while it
        // attaches its mounts) the cgroup and the init it will execute, then
        // what SIGKILLed runs left. A send to a child that failed is EPIPE.
        if (parent_makes == ParentMakes::Overlay && memory == ChildMemory::Copied) {
            auto overlay = make_overlay();
            int const overlay_fd = overlay.get();
            send_byte_with_fds(prepared.write_end.get(), std::span(&overlay_fd, 1), "(container set-up socket)");
        }
        if (cgroup_join == CgroupJoin::WithPreparedByte) {
            cgroup = create_cgroup(spec.cgroups_path, CgroupLifetime::Temporary, spec.cgroup_controllers);
            if (restrict_devices)
                cgroup->restrict_devices(spec.device_rules);
            cgroup->prepare_join();
        }
        if (memory == ChildMemory::Copied) {
            if (cgroup && !has_runtime_hooks)
                configure_cgroup();
            if (init_program.is_valid())
                fill_and_seal_init_program(init_program.get());
            auto const task_files = cgroup_join == CgroupJoin::WithPreparedByte ? cgroup->task_files() : std::vector<int> {};
            if (placement)
                placement->restore();
            send_byte_with_fds(prepared.write_end.get(), task_files, "(container set-up socket)");
        }
        prepared.write_end.reset();
        // The child is on its own now: what came for it meanwhile goes on.
        if (proxy)
            proxy->forward_to(pid);
        held_signals.reset();
        if (spec.root_setup == RootSetup::Layered && ::geteuid() == 0) {
            sweep_stale_cgroups();
            sweep_stale_writable_layers();
            if (!endpoint)
                network::sweep_stale_leases_if_any();
        }
        if (writable_layer)
            writable_layer->remove_stale_work();
    } catch (Error const&) {
        init.kill_and_wait();
        // What was held for the container goes with the proxy, not to vmm.
        if (proxy)
            proxy->install_handlers();
        auto message = read_all(errors.read_end.get());
        if (!message.empty())
            throw Error(message);
        throw;
    }

    // The error pipe closes on the exec: empty means it is set up. For
    // create, the process sends created_and_waiting before it waits for
    // start; without it, it died first.
    auto message = read_all(errors.read_end.get());
    bool const created = lifecycle == Lifecycle::Detached && message == std::string(1, created_and_waiting);
    if (created)
        message.clear();
    if (!message.empty()) {
        init.wait();
        throw Error(message);
    }
    if (lifecycle == Lifecycle::Detached && !created) {
        int const status = init.wait();
        throw Error(death_during_create(spec, status, cgroup.get()));
    }
    if (lifecycle == Lifecycle::Detached) {
        if (cgroup)
            cgroup->keep();
        return { 0, init.release() };
    }
    std::optional<double> marker_milliseconds;
    if (context.print_timings && marker)
        marker_milliseconds = wait_for_boot_marker(marker->read_end.get());
    if (terminal) {
        auto master = receive_container_terminal(terminal->read_end.get());
        relay_container_terminal(master.get(), pid);
    }
    int status = init.wait();
    if (status != 0 && cgroup)
        note_limit_events(*cgroup, spec.resources);
    if (context.print_timings) {
        fmt::print(stderr, "vmm: timings: boot marker {}, exit {:.3f} ms\n",
            marker_milliseconds ? fmt::format("{:.3f} ms", *marker_milliseconds) : std::string("-"), Timings::elapsed_milliseconds());
    }
    return { status, pid };
}

}

int run(ContainerSpec const& spec, LaunchContext const& context)
{
    return launch(spec, context, Lifecycle::Attached).status;
}

pid_t create(ContainerSpec const& spec, LaunchContext const& context)
{
    return launch(spec, context, Lifecycle::Detached).pid;
}

int run(ContainerOptions const& options)
{
    try {
        auto spec = spec_from_options(options);
        LaunchContext context;
        context.print_timings = options.print_timings;
        return run(spec, context);
    } catch (UsageError const& error) {
        throw UsageError(fmt::format("--container: {}", error.what()));
    } catch (Error const& error) {
        throw Error(fmt::format("--container: {}", error.what()));
    }
}

std::string death_during_create(ContainerSpec const& spec, int status, Cgroup const* cgroup)
{
    std::string how = "it ended";
    if (status > 128)
        how = fmt::format("it was killed by SIG{}", ::sigabbrev_np(status - 128) ? ::sigabbrev_np(status - 128) : "?");
    else if (status >= 0)
        how = fmt::format("it exited with status {}", status);
    if (cgroup && spec.resources.memory_bytes && cgroup->limit_events().out_of_memory_kills > 0)
        how = fmt::format("the memory limit of {} bytes (linux.resources.memory.limit) is too low for it", *spec.resources.memory_bytes);
    return fmt::format("container {}: its process died during create: {}", spec.id, how);
}

}
