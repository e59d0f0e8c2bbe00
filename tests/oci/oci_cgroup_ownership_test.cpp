// What a create may touch: a failed create affects nothing it did not
// make; a cgroup that exists is joined (left at delete) or, holding
// another's processes, refused; a process that died during create is
// never taken for a live one; delete does not wait on vmm-oci/ while other
// containers' cgroups are in it; the state directory is private.

#include "tests/oci/OciTestSupport.h"

#include "common/cgroup/Cgroup.h"

#include <chrono>
#include <csignal>
#include <sys/wait.h>

namespace oci_test {

namespace {

class OciCgroupOwnershipTest : public OciFixture {
protected:
    void TearDown() override
    {
        if (m_victim > 0) {
            ::kill(m_victim, SIGKILL);
            ::waitpid(m_victim, nullptr, 0);
        }
        OciFixture::TearDown();
        for (auto it = m_made_directories.rbegin(); it != m_made_directories.rend(); ++it)
            ::rmdir(it->c_str());
    }

    // Makes cgroup `name` as an administrator would (v2's directory, or
    // memory, pids and cpu on v1): the directories made.
    std::vector<std::string> make_foreign_cgroup(std::string const& name)
    {
        std::vector<std::string> directories;
        if (vmm::detect_cgroup_version() == vmm::CgroupVersion::V2)
            directories.push_back("/sys/fs/cgroup/" + name);
        else
            for (auto const* controller : { "memory", "pids", "cpu" })
                directories.push_back(std::string("/sys/fs/cgroup/") + controller + "/" + name);
        for (auto const& directory : directories) {
            EXPECT_EQ(::mkdir(directory.c_str(), 0755), 0) << directory << ": " << std::strerror(errno);
            m_made_directories.push_back(directory);
        }
        return directories;
    }

    // A process of "someone else's" in those directories.
    void start_victim_in(std::vector<std::string> const& directories)
    {
        m_victim = ::fork();
        ASSERT_GE(m_victim, 0);
        if (m_victim == 0) {
            ::pause();
            ::_exit(0);
        }
        for (auto const& directory : directories)
            std::ofstream(directory + "/cgroup.procs") << m_victim;
    }

    bool victim_alive() const { return m_victim > 0 && ::waitpid(m_victim, nullptr, WNOHANG) == 0 && ::kill(m_victim, 0) == 0; }

    void expect_one_line_error(RunResult const& result, std::string const& expected)
    {
        EXPECT_EQ(result.exit_status, 1) << describe(result);
        EXPECT_NE(result.standard_error.find(expected), std::string::npos) << describe(result);
        EXPECT_EQ(std::count(result.standard_error.begin(), result.standard_error.end(), '\n'), 1) << describe(result);
    }

    pid_t m_victim { -1 };
    std::vector<std::string> m_made_directories;
};

std::string cgroup_name(std::string const& what)
{
    return "vmm-oci-test-" + what + "-" + std::to_string(::getpid());
}

}

TEST_F(OciCgroupOwnershipTest, ACgroupWithAnothersProcessesIsRefusedAndLeftAlone)
{
    auto name = cgroup_name("victim");
    auto directories = make_foreign_cgroup(name);
    start_victim_in(directories);
    auto config = default_config({ "sleep", "1000" });
    config["linux"]["cgroupsPath"] = "/" + name;
    write_config(config);
    auto result = run({ "create", "--bundle", bundle(), "vic" });
    expect_one_line_error(result, "is not empty");
    EXPECT_TRUE(victim_alive());
    for (auto const& directory : directories) {
        EXPECT_TRUE(std::filesystem::exists(directory)) << directory;
        EXPECT_EQ(read_text(directory + "/cgroup.procs"), std::to_string(m_victim) + "\n") << directory;
    }
    EXPECT_FALSE(std::filesystem::exists(m_root + "/vic"));
}

TEST_F(OciCgroupOwnershipTest, AnEmptyCgroupIsJoinedAndKeptAtDelete)
{
    auto name = cgroup_name("joined");
    auto directories = make_foreign_cgroup(name);
    auto config = default_config({ "sleep", "1000" });
    config["linux"]["cgroupsPath"] = name;
    write_config(config);
    auto pid_file = m_scratch + "/pid";
    auto created = run({ "create", "--bundle", bundle(), "--pid-file", pid_file, "joined" });
    ASSERT_EQ(created.exit_status, 0) << describe(created);
    for (auto const& directory : directories)
        EXPECT_EQ(read_text(directory + "/cgroup.procs"), read_text(pid_file) + "\n") << directory;
    auto deleted = run({ "delete", "--force", "joined" });
    EXPECT_EQ(deleted.exit_status, 0) << describe(deleted);
    // The administrator's directories stay; those create made itself go.
    for (auto const& directory : directories) {
        EXPECT_TRUE(std::filesystem::exists(directory)) << directory;
        EXPECT_EQ(read_text(directory + "/cgroup.procs"), "") << directory;
    }
    for (auto const* controller : { "devices", "freezer", "blkio" })
        EXPECT_FALSE(std::filesystem::exists(std::string("/sys/fs/cgroup/") + controller + "/" + name)) << controller;
    EXPECT_FALSE(std::filesystem::exists(m_root + "/joined"));
}

TEST_F(OciCgroupOwnershipTest, TheSameIdUnderAnotherRootLeavesTheFirstRunning)
{
    write_config(default_config({ "sleep", "1000" }));
    auto pid_file = m_scratch + "/pid";
    ASSERT_EQ(run({ "create", "--bundle", bundle(), "--pid-file", pid_file, "twice" }).exit_status, 0);
    auto other_root = m_scratch + "/other-root";
    // Not through run(), which gives the fixture's --root. It fails, so no
    // container holds the pipes open.
    auto process = vmm::testing::run_process({ runtime_binary, "--root", other_root, "create", "--bundle", bundle(), "twice" },
        { .timeout_seconds = 60, .input = {}, .streams = vmm::testing::OutputStreams::Separate });
    expect_one_line_error({ process.exit_status, process.output, process.error_output }, "is not empty");
    EXPECT_EQ(state("twice")["status"], "created");
    EXPECT_EQ(::kill(std::stoi(read_text(pid_file)), 0), 0);
    EXPECT_FALSE(std::filesystem::exists(other_root + "/twice"));
    EXPECT_EQ(run({ "delete", "--force", "twice" }).exit_status, 0);
    expect_nothing_left("twice", "vmm-oci/twice");
}

TEST_F(OciCgroupOwnershipTest, AProcessThatDiesDuringCreateFailsCreate)
{
    // 4 KiB: the out-of-memory killer ends the process while it sets up.
    auto config = default_config({ "true" });
    config["linux"]["resources"] = { { "memory", { { "limit", 4096 } } } };
    write_config(config);
    auto result = run({ "create", "--bundle", bundle(), "starved" });
    expect_one_line_error(result, "died during create");
    expect_nothing_left("starved", "vmm-oci/starved");
}

TEST_F(OciCgroupOwnershipTest, AStateWithoutAStartTimeIsStopped)
{
    // A state written by a create that read no start time (its process had
    // died) once matched every PID that is gone: "created" forever, and
    // delete --force waiting for a process that does not exist.
    write_config(default_config({ "sleep", "1000" }));
    ASSERT_EQ(run({ "create", "--bundle", bundle(), "zero" }).exit_status, 0);
    pid_t gone = ::fork();
    if (gone == 0)
        ::_exit(0);
    ::waitpid(gone, nullptr, 0);
    auto state_path = m_root + "/zero/state.json";
    auto record = nlohmann::json::parse(read_text(state_path));
    record["pid"] = gone;
    record["pidStartTime"] = 0;
    std::ofstream(state_path) << record.dump();
    EXPECT_EQ(state("zero")["status"], "stopped");
    auto begin = std::chrono::steady_clock::now();
    auto deleted = run({ "delete", "--force", "zero" });
    EXPECT_EQ(deleted.exit_status, 0) << describe(deleted);
    EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(3));
    expect_nothing_left("zero", "vmm-oci/zero");
}

TEST_F(OciCgroupOwnershipTest, DeleteDoesNotWaitWhileOtherContainersExist)
{
    write_config(default_config({ "sleep", "1000" }));
    ASSERT_EQ(run({ "create", "--bundle", bundle(), "neighbour" }).exit_status, 0);
    ASSERT_EQ(run({ "create", "--bundle", bundle(), "brief" }).exit_status, 0);
    auto begin = std::chrono::steady_clock::now();
    auto deleted = run({ "delete", "--force", "brief" });
    auto elapsed = std::chrono::steady_clock::now() - begin;
    EXPECT_EQ(deleted.exit_status, 0) << describe(deleted);
    // It waited ~200 ms per v1 hierarchy (1.2 s) on vmm-oci/ being busy.
    EXPECT_LT(elapsed, std::chrono::milliseconds(900));
    expect_nothing_left("brief", "vmm-oci/brief");
    EXPECT_EQ(state("neighbour")["status"], "created");
}

TEST_F(OciCgroupOwnershipTest, TheStateDirectoryIsPrivate)
{
    auto config = default_config({ "sleep", "1000" });
    config["process"]["env"].push_back("SECRET=hunter2");
    write_config(config);
    ASSERT_FALSE(std::filesystem::exists(m_root));
    ASSERT_EQ(run({ "create", "--bundle", bundle(), "private" }).exit_status, 0);
    struct stat status {};
    ASSERT_EQ(::stat(m_root.c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 07777, 0700u);
    for (auto const* file : { "state.json", "config.json" }) {
        ASSERT_EQ(::stat((m_root + "/private/" + file).c_str(), &status), 0) << file;
        EXPECT_EQ(status.st_mode & 07777, 0600u) << file;
    }
}

}
