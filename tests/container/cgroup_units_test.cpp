// Unit tests of the cgroups: v1, and v2 against a cgroup2 hierarchy the test
// mounts itself; their limits, joins, removal and device rules.

#include "tests/container/ContainerTestSupport.h"

#include "common/Error.h"
#include "common/cgroup/Cgroup.h"
#include "common/cgroup/CgroupV1.h"
#include "common/cgroup/CgroupV2.h"
#include "common/cgroup/DeviceRules.h"
#include "container/Namespaces.h"

#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

using namespace vmm;
using namespace vmm::container;
using container_test::path_exists;

namespace {

std::string read_file(std::string const& path)
{
    std::ifstream file(path);
    std::stringstream contents;
    contents << file.rdbuf();
    return contents.str();
}

// A child that sleeps until killed, to attach to cgroups.
class SleepingChild {
public:
    SleepingChild()
        : m_pid(::fork())
    {
        if (m_pid == 0) {
            ::pause();
            ::_exit(0);
        }
    }
    ~SleepingChild()
    {
        ::kill(m_pid, SIGKILL);
        ::waitpid(m_pid, nullptr, 0);
    }
    pid_t pid() const { return m_pid; }

private:
    pid_t m_pid;
};

std::string test_cgroup_name()
{
    return "vmm-container-unit-" + std::to_string(::getpid());
}

TEST(CgroupFormatting, CpuQuota)
{
    EXPECT_EQ(cpu_quota_us(1.0), 100000u);
    EXPECT_EQ(cpu_quota_us(0.5), 50000u);
    EXPECT_EQ(cpu_quota_us(2.25), 225000u);
    EXPECT_EQ(cpu_quota_us(0.001), 1000u); // The kernel's minimum.
    EXPECT_EQ(format_cpu_max(1.5), "150000 100000");
}

TEST(CgroupFiles, KeyedValues)
{
    auto const path = fmt::format("/tmp/vmm-keyed-values-{}", ::getpid());
    std::ofstream(path) << "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
    EXPECT_EQ(read_keyed_value(path, "oom_kill"), 3u);
    EXPECT_EQ(read_keyed_value(path, "under_oom"), 0u);
    EXPECT_EQ(read_keyed_value(path, "oom"), 0u);
    std::filesystem::remove(path);
    EXPECT_EQ(read_keyed_value(path, "oom_kill"), 0u);
}

// A vmm killed by SIGKILL and not yet reaped (a zombie) holds no cgroup or
// layer: the next run's sweep takes them.
TEST(StaleSweep, AZombieVmmIsNotLive)
{
    int go[2];
    ASSERT_EQ(::pipe(go), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(go[1]);
        ::prctl(PR_SET_NAME, "vmm (test)", 0, 0, 0);
        char byte;
        (void)!::read(go[0], &byte, 1);
        ::_exit(0);
    }
    ::close(go[0]);
    // /proc shows the new name once the child has set it.
    for (int tries = 0; tries < 1000 && !vmm::is_live_vmm(child); ++tries)
        ::usleep(1000);
    EXPECT_TRUE(vmm::is_live_vmm(child));
    ::close(go[1]);
    siginfo_t info {};
    ASSERT_EQ(::waitid(P_PID, child, &info, WEXITED | WNOWAIT), 0);
    EXPECT_FALSE(vmm::is_live_vmm(child)) << "a zombie counted as a running vmm";
    ASSERT_EQ(::waitpid(child, nullptr, 0), child);
    EXPECT_FALSE(vmm::is_live_vmm(child));
    EXPECT_FALSE(vmm::is_live_vmm(::getpid())) << "a process of another name counted as vmm";
}

TEST(CgroupDetection, ThisHost)
{
    auto version = detect_cgroup_version();
    struct statfs status {};
    ASSERT_EQ(::statfs("/sys/fs/cgroup", &status), 0);
    EXPECT_EQ(version == CgroupVersion::V2, status.f_type == 0x63677270) << "CGROUP2_SUPER_MAGIC";
}

class CgroupV1Test : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (::geteuid() != 0)
            GTEST_SKIP() << "creating cgroups needs root";
        if (!path_exists("/sys/fs/cgroup/memory/memory.limit_in_bytes") || !path_exists("/sys/fs/cgroup/pids/cgroup.procs") || !path_exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"))
            GTEST_SKIP() << "this host has no cgroup v1 memory and pids hierarchies";
    }
};

TEST_F(CgroupV1Test, WritesLimitsAttachesAndRemoves)
{
    auto name = test_cgroup_name();
    {
        CgroupV1 cgroup("/sys/fs/cgroup", name);
        cgroup.apply({ 64 * 1024 * 1024, 0.5, 10 });
        EXPECT_EQ(read_file(cgroup.directory_of("memory") + "/memory.limit_in_bytes"), "67108864\n");
        EXPECT_EQ(read_file(cgroup.directory_of("cpu") + "/cpu.cfs_quota_us"), "50000\n");
        EXPECT_EQ(read_file(cgroup.directory_of("cpu") + "/cpu.cfs_period_us"), "100000\n");
        EXPECT_EQ(read_file(cgroup.directory_of("pids") + "/pids.max"), "10\n");

        SleepingChild child;
        cgroup.attach(child.pid());
        for (auto const* controller : { "memory", "cpu", "pids" })
            EXPECT_EQ(read_file(cgroup.directory_of(controller) + "/cgroup.procs"), std::to_string(child.pid()) + "\n") << controller;
    }
    for (auto const* controller : { "memory", "cpu", "pids" })
        EXPECT_FALSE(path_exists(std::string("/sys/fs/cgroup/") + controller + "/" + name)) << controller;
}

// apply() leaves out what a new v1 cgroup has already (the default CPU
// period, the unlimited memory+swap limit), not what a joined one may have
// changed.
TEST_F(CgroupV1Test, AJoinedCgroupGetsThePeriodAndLimitsWritten)
{
    auto name = test_cgroup_name();
    CgroupV1 made("/sys/fs/cgroup", name);
    write_control_file(made.directory_of("cpu") + "/cpu.cfs_period_us", "50000");
    CgroupV1 joined("/sys/fs/cgroup", name, CgroupLifetime::Temporary, CgroupV1::Existing);
    joined.apply({ 64 * 1024 * 1024, 0.5, 10 });
    EXPECT_EQ(read_file(made.directory_of("cpu") + "/cpu.cfs_period_us"), "100000\n");
    EXPECT_EQ(read_file(made.directory_of("cpu") + "/cpu.cfs_quota_us"), "50000\n");
    EXPECT_EQ(read_file(made.directory_of("memory") + "/memory.limit_in_bytes"), "67108864\n");
    // Raised again past its memory+swap limit: that one is written first.
    joined.apply({ 128 * 1024 * 1024, std::nullopt, std::nullopt });
    EXPECT_EQ(read_file(made.directory_of("memory") + "/memory.limit_in_bytes"), "134217728\n");
}

TEST_F(CgroupV1Test, ChildJoinsItself)
{
    auto name = test_cgroup_name();
    CgroupV1 cgroup("/sys/fs/cgroup", name);
    cgroup.prepare_join();
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        cgroup.join_from_child();
        (void)!::write(ready[1], "j", 1);
        ::pause();
        ::_exit(0);
    }
    char byte = 0;
    ASSERT_EQ(::read(ready[0], &byte, 1), 1);
    for (auto const* controller : { "memory", "cpu", "pids" })
        EXPECT_EQ(read_file(cgroup.directory_of(controller) + "/cgroup.procs"), std::to_string(pid) + "\n") << controller;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(ready[0]);
    ::close(ready[1]);
}

TEST_F(CgroupV1Test, LimitsOnlyLeaveOutTheFreezerAndBlkio)
{
    // vmm --container neither pauses nor updates: two hierarchies fewer to
    // make, join and remove per start. OCI containers get all of them.
    if (!path_exists("/sys/fs/cgroup/freezer/cgroup.procs") || !path_exists("/sys/fs/cgroup/blkio/cgroup.procs"))
        GTEST_SKIP() << "this host has no cgroup v1 freezer and blkio hierarchies";
    auto name = test_cgroup_name();
    {
        CgroupV1 limits_only("/sys/fs/cgroup", name, CgroupLifetime::Temporary, CgroupV1::Create, CgroupControllers::Limits);
        for (auto const* controller : { "memory", "cpu", "pids", "devices" })
            EXPECT_TRUE(path_exists(std::string("/sys/fs/cgroup/") + controller + "/" + name)) << controller;
        for (auto const* controller : { "freezer", "blkio" })
            EXPECT_FALSE(path_exists(std::string("/sys/fs/cgroup/") + controller + "/" + name)) << controller;
    }
    {
        CgroupV1 all("/sys/fs/cgroup", name);
        for (auto const* controller : { "freezer", "blkio" })
            EXPECT_TRUE(path_exists(std::string("/sys/fs/cgroup/") + controller + "/" + name)) << controller;
    }
    for (auto const* controller : CgroupV1::controllers)
        EXPECT_FALSE(path_exists(std::string("/sys/fs/cgroup/") + controller + "/" + name)) << controller;
}

TEST_F(CgroupV1Test, FailedCreationLeavesNothing)
{
    // The cpu directory exists and holds a child cgroup, so it can neither be
    // made nor cleared away: creation fails after memory's directory was made,
    // which must then be removed again.
    auto name = test_cgroup_name();
    auto blocker = "/sys/fs/cgroup/cpu/" + name;
    ASSERT_EQ(::mkdir(blocker.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((blocker + "/child").c_str(), 0755), 0);
    EXPECT_THROW(CgroupV1("/sys/fs/cgroup", name), vmm::Error);
    EXPECT_FALSE(path_exists("/sys/fs/cgroup/memory/" + name));
    EXPECT_FALSE(path_exists("/sys/fs/cgroup/pids/" + name));
    ::rmdir((blocker + "/child").c_str());
    ::rmdir(blocker.c_str());
}

// cgroup v2 against a cgroup2 hierarchy mounted here. On a hybrid host the
// memory, cpu and pids controllers are bound to v1, so only what the host
// offers is exercised: directory, attach, removal, and a clear error for a
// controller that is missing; the limit files where a controller exists.
class CgroupV2Test : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (::geteuid() != 0)
            GTEST_SKIP() << "mounting cgroup2 needs root";
        m_mount_point = std::filesystem::temp_directory_path() / ("vmm-cgroup2-test-" + std::to_string(::getpid()));
        ASSERT_EQ(::mkdir(m_mount_point.c_str(), 0755), 0);
        if (::mount("none", m_mount_point.c_str(), "cgroup2", 0, nullptr) < 0) {
            ::rmdir(m_mount_point.c_str());
            GTEST_SKIP() << "cannot mount cgroup2: " << std::strerror(errno);
        }
        m_mounted = true;
    }
    void TearDown() override
    {
        if (m_mounted)
            ::umount2(m_mount_point.c_str(), MNT_DETACH);
        if (!m_mount_point.empty())
            ::rmdir(m_mount_point.c_str());
    }

    std::string m_mount_point;
    bool m_mounted { false };
};

TEST_F(CgroupV2Test, DetectsTheMount)
{
    EXPECT_EQ(detect_cgroup_version(m_mount_point), CgroupVersion::V2);
}

TEST_F(CgroupV2Test, CreatesAttachesAndRemoves)
{
    auto name = test_cgroup_name();
    auto directory = m_mount_point + "/" + name;
    {
        CgroupV2 cgroup(m_mount_point, name);
        EXPECT_EQ(cgroup.path(), directory);
        EXPECT_TRUE(path_exists(directory + "/cgroup.procs"));
        SleepingChild child;
        cgroup.attach(child.pid());
        EXPECT_EQ(read_file(directory + "/cgroup.procs"), std::to_string(child.pid()) + "\n");
    }
    EXPECT_FALSE(path_exists(directory));
}

TEST_F(CgroupV2Test, CloneIntoCgroup)
{
    auto name = test_cgroup_name();
    CgroupV2 cgroup(m_mount_point, name);
    cgroup.prepare_join();
    ASSERT_GE(cgroup.clone_into_fd(), 0);
    pid_t pid = clone_into_namespaces(0, cgroup.clone_into_fd());
    if (pid == 0) {
        ::pause();
        ::_exit(0);
    }
    EXPECT_EQ(read_file(cgroup.path() + "/cgroup.procs"), std::to_string(pid) + "\n");
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
}

TEST_F(CgroupV2Test, LimitsWhereTheControllersExist)
{
    auto name = test_cgroup_name();
    CgroupV2 cgroup(m_mount_point, name);
    auto controllers = cgroup.available_controllers();
    struct Case {
        char const* controller;
        ResourceLimits limits;
        char const* file;
        char const* expected;
    };
    Case const cases[] = {
        { "memory", { 64 * 1024 * 1024, std::nullopt, std::nullopt }, "memory.max", "67108864\n" },
        { "cpu", { std::nullopt, 1.5, std::nullopt }, "cpu.max", "150000 100000\n" },
        { "pids", { std::nullopt, std::nullopt, 10 }, "pids.max", "10\n" },
    };
    for (auto const& test_case : cases) {
        if (controllers.contains(test_case.controller)) {
            cgroup.apply(test_case.limits);
            EXPECT_EQ(read_file(cgroup.path() + "/" + test_case.file), test_case.expected) << test_case.controller;
        } else {
            try {
                cgroup.apply(test_case.limits);
                ADD_FAILURE() << "no error for the missing " << test_case.controller << " controller";
            } catch (vmm::Error const& error) {
                EXPECT_NE(std::string(error.what()).find(std::string("has no ") + test_case.controller + " controller"), std::string::npos) << error.what();
            }
        }
    }
}

TEST(DeviceRules, FormatAsDevicesAllowLines)
{
    std::vector<std::string> lines;
    for (auto const& rule : default_device_rules())
        lines.push_back(format_device_rule(rule));
    EXPECT_EQ(lines, (std::vector<std::string> { "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm" }));
    EXPECT_EQ(format_device_rule({ DeviceType::Block, any_device_number, any_device_number }), "b *:* rwm");
}

TEST_F(CgroupV1Test, RestrictDevicesWritesTheAllowlist)
{
    if (!path_exists("/sys/fs/cgroup/devices/devices.list"))
        GTEST_SKIP() << "this host has no cgroup v1 devices hierarchy";
    CgroupV1 cgroup("/sys/fs/cgroup", test_cgroup_name());
    cgroup.restrict_devices(default_device_rules());
    std::string expected;
    for (auto const& rule : default_device_rules())
        expected += format_device_rule(rule) + "\n";
    EXPECT_EQ(read_file(cgroup.directory_of("devices") + "/devices.list"), expected);
}

// The BPF device program, attached to a real cgroup2 directory with a child
// in it: /dev/null opens, /dev/kmsg (c 1:11) neither opens nor can be made.
TEST_F(CgroupV2Test, RestrictDevicesDeniesWhatTheAllowlistLacks)
{
    CgroupV2 cgroup(m_mount_point, test_cgroup_name());
    cgroup.restrict_devices(default_device_rules());
    cgroup.prepare_join();
    auto scratch = m_mount_point + "-kmsg";
    pid_t pid = clone_into_namespaces(0, cgroup.clone_into_fd());
    if (pid == 0) {
        int failures = 0;
        int null_fd = ::open("/dev/null", O_RDWR);
        failures |= null_fd < 0 ? 1 : 0;
        failures |= ::open("/dev/kmsg", O_RDONLY) >= 0 || errno != EPERM ? 2 : 0;
        failures |= ::mknod(scratch.c_str(), S_IFCHR | 0600, makedev(1, 11)) == 0 || errno != EPERM ? 4 : 0;
        failures |= ::mknod(scratch.c_str(), S_IFBLK | 0600, makedev(7, 0)) == 0 || errno != EPERM ? 8 : 0;
        ::_exit(failures);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ::unlink(scratch.c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: /dev/null refused, 2: /dev/kmsg opened, 4: c 1:11 made, 8: b 7:0 made";
}

}

TEST(CgroupV1Hierarchies, NamedAfterTheirControllers)
{
    // A v1 layout as systemd makes it: cpu and cpuacct co-mounted and
    // reached through symlinks; pids not mounted at all.
    auto const root = std::filesystem::temp_directory_path() / ("vmm-cgroup-layout-" + std::to_string(::getpid()));
    std::filesystem::create_directories(root / "memory");
    std::filesystem::create_directories(root / "cpu,cpuacct");
    std::filesystem::create_directories(root / "devices");
    std::filesystem::create_directory_symlink("cpu,cpuacct", root / "cpu");
    std::filesystem::create_directory_symlink("cpu,cpuacct", root / "cpuacct");
    char const* const controllers[] = { "memory", "cpu", "pids", "devices", "cpuacct" };
    auto const hierarchies = cgroup_v1_hierarchies(controllers, root.string());
    std::filesystem::remove_all(root);

    ASSERT_EQ(hierarchies.size(), 3u);
    EXPECT_EQ(hierarchies[0].name, "memory");
    EXPECT_EQ(hierarchies[0].controllers, (std::vector<std::string> { "memory" }));
    // Once, however many of its controllers are asked for.
    EXPECT_EQ(hierarchies[1].name, "cpu,cpuacct");
    EXPECT_EQ(hierarchies[1].controllers, (std::vector<std::string> { "cpu", "cpuacct" }));
    EXPECT_EQ(hierarchies[2].name, "devices");
}
