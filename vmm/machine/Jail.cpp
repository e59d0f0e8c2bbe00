#include "vmm/machine/Jail.h"

#include "common/Error.h"
#include "common/ParentDeath.h"
#include "common/cgroup/Cgroup.h"
#include "common/Mount.h"
#include "guest/protocol.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace vmm {

namespace {


constexpr char const* jail_hostname = "vmm-jail";
// The jail's cgroup leaves room for vmm's own memory (page tables, buffers,
// io_uring) above guest RAM, and for io_uring's worker threads.
constexpr uint64_t jail_memory_overhead = 256ull << 20;
constexpr uint64_t jail_pids_limit = 256;

volatile sig_atomic_t g_jailed_pid = 0;

// The parent only waits: what would stop vmm goes to the jailed one.
void forward_stop_signal(int signal_number)
{
    if (g_jailed_pid > 0)
        ::kill(g_jailed_pid, signal_number);
}

// A file given on the command line, seen in the jail at `jail_path`.
struct JailFile {
    std::string host_path;
    std::string jail_path;
    MountAttributes attributes;
};

std::vector<JailFile> files_of(BootOptions const& options)
{
    std::vector<JailFile> files;
    auto read_only = MountAttributes::ReadOnly | MountAttributes::NoSuid | MountAttributes::NoExec;
    files.push_back({ options.kernel, "/kernel", read_only });
    if (!options.initrd.empty())
        files.push_back({ options.initrd, "/initrd", read_only });
    for (size_t index = 0; index < options.disks.size(); ++index) {
        auto const& disk = options.disks[index];
        files.push_back({ disk.path, fmt::format("/disk{}", index),
            disk.access == DiskAccess::ReadOnly ? read_only : MountAttributes::NoSuid | MountAttributes::NoExec });
    }
    return files;
}

// Creates an empty file at `path` under the jail root and attaches `mount` on it.
void place(int root_fd, FileDescriptor const& mount, std::string const& path, std::string const& what)
{
    auto const relative = path.substr(1);
    FileDescriptor file(::openat(root_fd, relative.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
    if (!file.is_valid())
        throw_system_error("create", "(jail) " + path);
    auto target = open_mount_target(root_fd, relative, what);
    attach_mount(mount.get(), target.get(), what);
}

// In the child, the PID 1 of the new namespaces: builds the jail root and pivots into it.
void build_jail(BootOptions& options)
{
    if (::unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET) != 0)
        throw_system_error("unshare", "(jail namespaces)");
    // Nothing done here may reach the host's mount table.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        throw_system_error("mount", "/ (making it private)");
    if (::sethostname(jail_hostname, std::strlen(jail_hostname)) != 0)
        throw_system_error("sethostname", jail_hostname);

    // Detached copies of what the VMM may see, taken before anything is hidden.
    auto files = files_of(options);
    std::vector<FileDescriptor> mounts;
    for (auto& file : files) {
        std::error_code error;
        auto const canonical = std::filesystem::canonical(file.host_path, error);
        if (error)
            throw Error(fmt::format("--jail: {}: {}", file.host_path, error.message()));
        mounts.push_back(clone_mount_tree(canonical.string()));
        set_mount_attributes(mounts.back().get(), file.attributes, file.host_path);
    }
    auto kvm = clone_mount_tree("/dev/kvm");

    // The jail root: a small tmpfs (devices allowed, for /dev/kvm only),
    // attached first: older kernels (6.1) refuse mounts onto a detached tree.
    auto root = create_mount("tmpfs", "vmm-jail", { { "size", "64k" }, { "mode", "0755" } }, MountAttributes::NoSuid, "jail root");
    if (::mkdirat(root.get(), "dev", 0755) != 0 || ::mkdirat(root.get(), "proc", 0555) != 0)
        throw_system_error("mkdir", "(jail) /dev, /proc");
    attach_mount(root.get(), "/tmp");
    for (size_t index = 0; index < files.size(); ++index)
        place(root.get(), mounts[index], files[index].jail_path, files[index].host_path);
    place(root.get(), kvm, "/dev/kvm", "/dev/kvm");

    // pivot_root onto the jail, the old root stacked under it and then detached.
    if (::chdir("/tmp") != 0)
        throw_system_error("chdir", "(jail root)");
    if (::syscall(SYS_pivot_root, ".", ".") == 0) {
        if (::umount2(".", MNT_DETACH) != 0)
            throw_system_error("umount", "(the host's root)");
    } else {
        // A host whose root is the initramfs (rootfs) cannot pivot it away:
        // the jail is moved over it and chrooted into, as runc's no-pivot
        // mode does. CAP_SYS_CHROOT goes with the rest before the guest runs.
        if (errno != EINVAL)
            throw_system_error("pivot_root", "(jail)");
        if (::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0)
            throw_system_error("mount", "(moving the jail onto /)");
        if (::chroot(".") != 0)
            throw_system_error("chroot", "(jail)");
    }
    if (::chdir("/") != 0)
        throw_system_error("chdir", "/ (jail)");
    // /proc of the jail's own PID namespace: the console output reopens
    // /proc/self/fd/1, and host detection reads /proc/cpuinfo.
    if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
        throw_system_error("mount", "/proc (jail)");
    // The root itself read-only; the disks keep their own mounts' access.
    if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, nullptr) != 0)
        throw_system_error("mount", "/ (jail, read-only)");

    options.kernel = files[0].jail_path;
    size_t next = 1;
    if (!options.initrd.empty())
        options.initrd = files[next++].jail_path;
    for (auto& disk : options.disks)
        disk.path = files[next++].jail_path;
}

// Guest RAM and vmm's overhead, one CPU per vCPU and one for the I/O thread.
ResourceLimits jail_limits(BootOptions const& options)
{
    return { options.memory_size + jail_memory_overhead, static_cast<double>(options.cpus + 1), jail_pids_limit };
}

int wait_for_jailed(pid_t child)
{
    for (;;) {
        int status = 0;
        if (::waitpid(child, &status, 0) == child)
            return vmm_exit_status_from_wait_status(status);
        if (errno != EINTR)
            throw_system_error("waitpid", "(jailed vmm)");
    }
}

}

std::optional<int> enter_jail(BootOptions& options)
{
    if (::geteuid() != 0)
        throw Error("--jail needs root: it creates namespaces and mounts");
    // The container runtime's cgroups, named after this vmm (and swept by
    // the next run if it is killed); the jailed child waits until it is in.
    sweep_stale_cgroups();
    std::unique_ptr<Cgroup> cgroup;
    try {
        cgroup = create_cgroup(container_cgroup_name(::getpid()), CgroupLifetime::Temporary, CgroupControllers::Limits);
        cgroup->apply(jail_limits(options));
    } catch (Error const& error) {
        throw Error(fmt::format("--jail: the jail's cgroup: {}", error.what()));
    }
    int sync[2];
    if (::pipe2(sync, O_CLOEXEC) != 0)
        throw_system_error("pipe2", "(jail start)");
    FileDescriptor sync_read(sync[0]);
    FileDescriptor sync_write(sync[1]);
    // The new PID namespace is the child's (PID 1 there); the others are
    // made by the child alone, so that pivot_root cannot move the parent too.
    if (::unshare(CLONE_NEWPID) != 0)
        throw_system_error("unshare", "(jail PID namespace)");
    for (int signal_number : { SIGINT, SIGTERM, SIGHUP }) {
        struct sigaction action {};
        action.sa_handler = forward_stop_signal;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESTART;
        if (::sigaction(signal_number, &action, nullptr) != 0)
            throw_system_error("sigaction", "(jail parent)");
    }
    auto parent_pidfd = open_own_pidfd();
    pid_t const child = ::fork();
    if (child < 0)
        throw_system_error("fork", "(jailed vmm)");
    if (child > 0) {
        g_jailed_pid = child;
        // The jailed VMM's devices are its own: with this process's copies,
        // vhost-net's worker, which runs in the jail's cgroup, would outlive
        // the VMM and keep that cgroup from being removed.
        options.network.reset();
        sync_read.reset();
        try {
            cgroup->attach(child);
        } catch (Error const&) {
            // Closing the pipe unread tells the child to give up.
            sync_write.reset();
            wait_for_jailed(child);
            throw;
        }
        char const go = 1;
        if (::write(sync_write.get(), &go, 1) != 1)
            throw_system_error("write", "(jail start)");
        sync_write.reset();
        return wait_for_jailed(child);
    }
    for (int signal_number : { SIGINT, SIGTERM, SIGHUP })
        ::signal(signal_number, SIG_DFL);
    // Armed before the go byte is read: a parent killed after sending it
    // would otherwise leave the jailed vmm running with nobody to wait for it.
    try {
        die_with_parent(parent_pidfd.get());
    } catch (Error const& error) {
        std::fprintf(stderr, "vmm: %s\n", error.what());
        ::_exit(1);
    }
    parent_pidfd.reset();
    sync_write.reset();
    char go = 0;
    if (::read(sync_read.get(), &go, 1) != 1)
        ::_exit(1); // The parent could not put us into the jail's cgroup and says why.
    sync_read.reset();
    // The cgroup is the parent's to remove once we are gone; our copy must
    // not try while we are in it.
    [[maybe_unused]] auto* parents_cgroup = cgroup.release();
    try {
        build_jail(options);
    } catch (Error const& error) {
        std::fprintf(stderr, "vmm: %s\n", error.what());
        ::_exit(1);
    }
    return std::nullopt;
}

}
