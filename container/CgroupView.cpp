#include "container/CgroupView.h"

#include "common/Error.h"
#include "common/cgroup/CgroupV1.h"

#include <algorithm>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm::container {

namespace {

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

bool binds_cgroup_v1_directories(ContainerSpec const& spec)
{
    return !spec.cgroups_path.empty() && !spec.makes_namespace(NamespaceType::Cgroup) && std::ranges::any_of(spec.mounts, [](MountSpec const& mount) { return mount.type == "cgroup"; })
        && detect_cgroup_version() == CgroupVersion::V1;
}

std::optional<DetachedMount> make_cgroup_view(ContainerSpec const& spec, MountSpec const& mount)
{
    if (mount.type != "cgroup")
        return std::nullopt;
    auto options = parse_mount_options(mount);
    auto const what = mount.destination;
    if (detect_cgroup_version() == CgroupVersion::V2) {
        // Outside a cgroup namespace of its own, a new cgroup2 mount would
        // show the host's root: the container's directory instead (made
        // before the clone, as a v2 cgroup always is).
        if (spec.makes_namespace(NamespaceType::Cgroup) || spec.cgroups_path.empty())
            return std::nullopt;
        DetachedMount bind;
        bind.tree = clone_mount_tree(fmt::format("/sys/fs/cgroup/{}", spec.cgroups_path), CloneDepth::TopOnly);
        set_mount_attributes(bind.tree.get(), options.attributes, what);
        return bind;
    }
    DetachedMount view;
    view.tree = create_mount("tmpfs", "tmpfs", { { "mode", "755" } }, MountAttributes::NoSuid | MountAttributes::NoDev | MountAttributes::NoExec, what);
    auto const hierarchies = own_hierarchies(spec);
    if (spec.makes_namespace(NamespaceType::Cgroup)) {
        view.cgroup_hierarchies = hierarchies;
    } else {
        // Cloned now, while the host's tree is in reach (the cgroup was made
        // before the clone: binds_cgroup_v1_directories()).
        for (auto const& hierarchy : hierarchies) {
            auto bind = clone_mount_tree(fmt::format("/sys/fs/cgroup/{}/{}", hierarchy.name, spec.cgroups_path), CloneDepth::TopOnly);
            set_mount_attributes(bind.get(), options.attributes, fmt::format("{}/{}", what, hierarchy.name));
            view.cgroup_binds.emplace_back(hierarchy.name, std::move(bind));
        }
    }
    for (auto const& hierarchy : hierarchies) {
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

void attach_cgroup_v1_binds(ContainerSpec const& spec, std::span<DetachedMount const> mounts)
{
    for (size_t index = 0; index < mounts.size(); ++index) {
        for (auto const& [name, bind] : mounts[index].cgroup_binds) {
            auto const path = fmt::format("{}/{}", spec.mounts[index].destination, name);
            // Onto the directory made in the view's own tmpfs, reached through
            // it, so that no path of the root is looked up.
            attach_mount(bind.get(), mounts[index].tree.get(), name, path);
        }
    }
}

void mount_cgroup_v1_hierarchies(ContainerSpec const& spec, std::span<DetachedMount const> mounts)
{
    for (size_t index = 0; index < mounts.size(); ++index) {
        auto const& mount = spec.mounts[index];
        auto const attributes = parse_mount_options(mount).attributes;
        for (auto const& hierarchy : mounts[index].cgroup_hierarchies) {
            auto const path = fmt::format("{}/{}", mount.destination, hierarchy.name);
            auto tree = create_mount("cgroup", "cgroup", controller_options(hierarchy), attributes, path);
            attach_mount(tree.get(), mounts[index].tree.get(), hierarchy.name, path);
        }
    }
}

}
