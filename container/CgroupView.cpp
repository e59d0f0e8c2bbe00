#include "container/CgroupView.h"

#include "common/Error.h"
#include "common/cgroup/CgroupV1.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm::container {

namespace {

bool has_new_cgroup_namespace(ContainerSpec const& spec)
{
    auto const* cgroup_namespace = spec.find_namespace(NamespaceType::Cgroup);
    return cgroup_namespace && cgroup_namespace->path.empty();
}

// The hierarchies CgroupV1 makes the container's cgroup in.
std::vector<CgroupV1Hierarchy> own_hierarchies(ContainerSpec const& spec)
{
    if (spec.cgroups_path.empty())
        return {};
    std::span<char const* const> controllers(CgroupV1::controllers);
    if (spec.cgroup_controllers == CgroupControllers::Limits)
        controllers = controllers.first(CgroupV1::controllers_for_limits);
    return cgroup_v1_hierarchies(controllers);
}

MountOptions controller_options(CgroupV1Hierarchy const& hierarchy)
{
    MountOptions options;
    for (auto const& controller : hierarchy.controllers)
        options.emplace_back(controller, "");
    return options;
}

}

std::optional<DetachedMount> make_cgroup_v1_view(ContainerSpec const& spec, MountSpec const& mount)
{
    if (mount.type != "cgroup" || !has_new_cgroup_namespace(spec) || detect_cgroup_version() != CgroupVersion::V1)
        return std::nullopt;
    auto options = parse_mount_options(mount);
    auto const what = mount.destination;
    DetachedMount view;
    view.tree = create_mount("tmpfs", "tmpfs", { { "mode", "755" } }, MountAttributes::NoSuid | MountAttributes::NoDev | MountAttributes::NoExec, what);
    view.cgroup_hierarchies = own_hierarchies(spec);
    for (auto const& hierarchy : view.cgroup_hierarchies) {
        if (::mkdirat(view.tree.get(), hierarchy.name.c_str(), 0755) < 0)
            throw_system_error("mkdir", fmt::format("{}/{}", what, hierarchy.name));
        // Co-mounted controllers are reached by each name too, as on the host.
        for (auto const& controller : hierarchy.controllers) {
            if (controller != hierarchy.name && ::symlinkat(hierarchy.name.c_str(), view.tree.get(), controller.c_str()) < 0)
                throw_system_error("symlink", fmt::format("{}/{}", what, controller));
        }
    }
    // Read-only (the OCI default's "ro") once its directories are made.
    if (options.attributes != MountAttributes::None)
        set_mount_attributes(view.tree.get(), options.attributes, what);
    return view;
}

void mount_cgroup_v1_hierarchies(ContainerSpec const& spec, std::span<DetachedMount const> mounts)
{
    for (size_t index = 0; index < mounts.size(); ++index) {
        auto const& mount = spec.mounts[index];
        auto const attributes = parse_mount_options(mount).attributes;
        for (auto const& hierarchy : mounts[index].cgroup_hierarchies) {
            auto const path = fmt::format("{}/{}", mount.destination, hierarchy.name);
            // Through the view's own tmpfs, attached by now: no path is looked up.
            FileDescriptor target(::openat(mounts[index].tree.get(), hierarchy.name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!target.is_valid())
                throw_system_error("open mount target", path);
            auto tree = create_mount("cgroup", "cgroup", controller_options(hierarchy), attributes, path);
            attach_mount(tree.get(), target.get(), path);
        }
    }
}

}
