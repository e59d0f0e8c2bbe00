#include "container/Cgroup.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "container/CgroupV1.h"
#include "container/CgroupV2.h"

#include <cerrno>
#include <cmath>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

namespace vmm::container {

CgroupVersion detect_cgroup_version(std::string const& cgroup_root)
{
    struct statfs status {};
    if (::statfs(cgroup_root.c_str(), &status) < 0)
        throw_system_error("statfs", cgroup_root);
    return status.f_type == CGROUP2_SUPER_MAGIC ? CgroupVersion::V2 : CgroupVersion::V1;
}

std::unique_ptr<Cgroup> create_cgroup(std::string const& name)
{
    if (detect_cgroup_version() == CgroupVersion::V2)
        return std::make_unique<CgroupV2>("/sys/fs/cgroup", name);
    return std::make_unique<CgroupV1>("/sys/fs/cgroup", name);
}

uint64_t cpu_quota_us(double cpus)
{
    // The kernel refuses quotas under 1 ms.
    auto quota = static_cast<uint64_t>(std::llround(cpus * static_cast<double>(cpu_period_us)));
    return quota < 1000 ? 1000 : quota;
}

void write_control_file(std::string const& path, std::string const& value)
{
    FileDescriptor file(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!file.is_valid())
        throw_system_error("open", path);
    ssize_t written = ::write(file.get(), value.data(), value.size());
    if (written < 0)
        throw_system_error("write " + value + " to", path);
}

void make_cgroup_directory(std::string const& path)
{
    if (::mkdir(path.c_str(), 0755) == 0)
        return;
    if (errno == EEXIST && ::rmdir(path.c_str()) == 0 && ::mkdir(path.c_str(), 0755) == 0)
        return;
    throw_system_error("mkdir", path);
}

bool remove_cgroup_directory(std::string const& path)
{
    // A few milliseconds at most: the tasks are already reaped.
    for (int attempt = 0; attempt < 200; ++attempt) {
        if (::rmdir(path.c_str()) == 0 || errno == ENOENT)
            return true;
        if (errno != EBUSY)
            return false;
        timespec pause { 0, 1000000 };
        ::nanosleep(&pause, nullptr);
    }
    return false;
}

}
