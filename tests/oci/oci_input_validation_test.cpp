// What config.json, exec's and update's files and runc's flags may hold:
// out-of-range or non-integer numbers, arrays given as objects, bad
// --user, --cwd, --preserve-fds, signals and sizes are each refused in one
// line naming what is wrong, as runc refuses them; nothing is wrapped,
// truncated or walked as something else.

#include "tests/oci/OciTestSupport.h"

#include "common/Error.h"
#include "common/cgroup/Cgroup.h"
#include "oci/Runtime.h"

#include <csignal>
#include <cstdint>

namespace oci_test {

namespace {

class OciInputValidationTest : public OciFixture {
protected:
    // create with `config` must fail with one line holding `expected`.
    void expect_config_refused(nlohmann::json const& config, std::string const& expected)
    {
        write_config(config);
        auto result = run({ "create", "--bundle", bundle(), "refused" });
        EXPECT_EQ(result.exit_status, 1) << expected << "\n" << describe(result);
        EXPECT_NE(result.standard_error.find(expected), std::string::npos) << describe(result);
        EXPECT_EQ(std::count(result.standard_error.begin(), result.standard_error.end(), '\n'), 1) << describe(result);
        EXPECT_FALSE(std::filesystem::exists(m_root + "/refused"));
    }

    // `arguments` must fail with one line holding `expected`.
    void expect_refused(std::vector<std::string> const& arguments, std::string const& expected)
    {
        auto result = run(arguments);
        EXPECT_EQ(result.exit_status, 1) << describe(result);
        EXPECT_NE(result.standard_error.find(expected), std::string::npos) << describe(result);
        EXPECT_EQ(std::count(result.standard_error.begin(), result.standard_error.end(), '\n'), 1) << describe(result);
        EXPECT_EQ(result.standard_error.find("internal error"), std::string::npos) << describe(result);
    }
};

}

TEST_F(OciInputValidationTest, IdsOutOfRangeOrNotIntegersAreRefused)
{
    for (auto const* field : { "uid", "gid" }) {
        for (auto value : { nlohmann::json(-1), nlohmann::json(4294967295u), nlohmann::json(4294967296u), nlohmann::json((uint64_t(1) << 40) + 1000) }) {
            auto config = default_config({ "id" });
            config["process"]["user"][field] = value;
            expect_config_refused(config, std::string("process.user.") + field + " " + value.dump() + " is out of range (0-4294967294)");
        }
        auto config = default_config({ "id" });
        config["process"]["user"][field] = 1.5;
        expect_config_refused(config, std::string("process.user.") + field + " must be an integer");
    }
    auto config = default_config({ "id" });
    config["process"]["user"]["additionalGids"] = { 10, -1 };
    expect_config_refused(config, "process.user.additionalGids -1 is out of range");
}

TEST_F(OciInputValidationTest, OtherIntegerFieldsAreCheckedAgainstTheirType)
{
    auto config = default_config({ "true" });
    config["process"]["oomScoreAdj"] = (uint64_t(1) << 32) + 100;
    expect_config_refused(config, "process.oomScoreAdj 4294967396 is out of range");
    config = default_config({ "true" });
    config["hooks"]["poststart"] = { { { "path", "/bin/true" }, { "timeout", uint64_t(1) << 40 } } };
    expect_config_refused(config, "hooks.poststart.timeout 1099511627776 is out of range");
    config = default_config({ "true" });
    config["linux"]["resources"]["pids"] = { { "limit", 2.5 } };
    expect_config_refused(config, "linux.resources.pids.limit must be an integer");
}

TEST_F(OciInputValidationTest, ArraysGivenAsObjectsAreRefused)
{
    auto config = default_config({ "true" });
    config["mounts"] = { { "proc", { { "destination", "/proc" }, { "type", "proc" }, { "source", "proc" } } } };
    expect_config_refused(config, "mounts must be an array, not object");
    config = default_config({ "true" });
    config["hooks"] = { { "poststart", { { "a", { { "path", "/bin/true" } } } } } };
    expect_config_refused(config, "hooks.poststart must be an array, not object");
    config = default_config({ "true" });
    config["linux"]["namespaces"] = { { "type", "pid" } };
    expect_config_refused(config, "linux.namespaces must be an array, not object");
    config = default_config({ "true" });
    config["linux"]["namespaces"] = { "pid", "mount" };
    expect_config_refused(config, "linux.namespaces[0] must be an object, not string");
}

TEST_F(OciInputValidationTest, ATmpfsOptionErrorIsOneLine)
{
    auto config = default_config({ "true" });
    config["mounts"].push_back({ { "destination", "/mnt" }, { "type", "tmpfs" }, { "source", "tmpfs" }, { "options", { "bogus=1" } } });
    write_config(config);
    auto result = run({ "run", "--bundle", bundle(), "tmpfs" });
    EXPECT_EQ(result.exit_status, 1) << describe(result);
    EXPECT_NE(result.standard_error.find("bogus"), std::string::npos) << describe(result);
    EXPECT_EQ(std::count(result.standard_error.begin(), result.standard_error.end(), '\n'), 1) << describe(result);
    expect_nothing_left("tmpfs", "vmm-oci/tmpfs");
}

TEST_F(OciInputValidationTest, ExecFlagsAndFilesAreChecked)
{
    auto config = default_config({ "sleep", "1000" });
    config["process"]["noNewPrivileges"] = false;
    write_config(config);
    ASSERT_EQ(run({ "run", "--detach", "--bundle", bundle(), "target" }).exit_status, 0);
    for (auto const* user : { "-1", "4294967295", "99999999999", "nobody", ":" })
        expect_refused({ "exec", "--user", user, "target", "id" }, "exec --user: the uid");
    for (auto const* user : { "0:4294967295", "1000:", "1000:abc" })
        expect_refused({ "exec", "--user", user, "target", "id" }, "exec --user: the gid");
    auto allowed = run({ "exec", "--user", "1000:1001", "target", "id" });
    EXPECT_EQ(allowed.exit_status, 0) << describe(allowed);
    EXPECT_NE(allowed.standard_output.find("uid=1000 gid=1001"), std::string::npos) << describe(allowed);
    // --no-new-privs sets it where the config does not.
    auto privileges = [&](std::vector<std::string> flags) {
        std::vector<std::string> arguments { "exec" };
        arguments.insert(arguments.end(), flags.begin(), flags.end());
        arguments.insert(arguments.end(), { "target", "grep", "NoNewPrivs", "/proc/self/status" });
        return run(arguments).standard_output;
    };
    EXPECT_NE(privileges({}).find("NoNewPrivs:\t0"), std::string::npos);
    EXPECT_NE(privileges({ "--no-new-privs" }).find("NoNewPrivs:\t1"), std::string::npos);

    expect_refused({ "exec", "--cwd", "tmp", "target", "pwd" }, "must be an absolute path");
    expect_refused({ "exec", "--preserve-fds", "x", "target", "true" }, "--preserve-fds: 'x' is not a number");
    expect_refused({ "exec", "--process", "/tmp", "target" }, "--process /tmp: not a regular file");
    // A FIFO without a writer: refused, not waited on.
    auto const fifo = m_scratch + "/process.fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    expect_refused({ "exec", "--process", fifo, "target" }, "--process " + fifo + ": not a regular file");
    auto const array_file = m_scratch + "/array.json";
    std::ofstream(array_file) << "[]";
    expect_refused({ "exec", "--process", array_file, "target" }, "--process " + array_file + ": must be a JSON object, not array");
    auto process_file = m_scratch + "/process.json";
    std::ofstream(process_file) << R"({"args":["id"],"cwd":"/","user":{"uid":-1}})";
    expect_refused({ "exec", "--process", process_file, "target" }, "--process " + process_file + ": process.user.uid -1 is out of range");
}

TEST_F(OciInputValidationTest, UpdateTakesRuncsSizesAndLifts)
{
    if (vmm::detect_cgroup_version() != vmm::CgroupVersion::V1)
        GTEST_SKIP() << "reads the v1 limit files";
    write_config(default_config({ "sleep", "1000" }));
    ASSERT_EQ(run({ "run", "--detach", "--bundle", bundle(), "limited" }).exit_status, 0);
    auto const memory = std::string("/sys/fs/cgroup/memory/vmm-oci/limited/memory.limit_in_bytes");
    auto const pids = std::string("/sys/fs/cgroup/pids/vmm-oci/limited/pids.max");
    ASSERT_EQ(run({ "update", "--memory", "100M", "limited" }).exit_status, 0);
    EXPECT_EQ(read_text(memory), "104857600\n");
    ASSERT_EQ(run({ "update", "--memory", "-1", "limited" }).exit_status, 0);
    EXPECT_GT(std::stoull(read_text(memory)), uint64_t(1) << 60);
    expect_refused({ "update", "--pids-limit", "10x", "limited" }, "--pids-limit: '10x' is not a number");
    ASSERT_EQ(run({ "update", "--pids-limit", "10", "limited" }).exit_status, 0);
    EXPECT_EQ(read_text(pids), "10\n");
    ASSERT_EQ(run({ "update", "--pids-limit", "-1", "limited" }).exit_status, 0);
    EXPECT_EQ(read_text(pids), "max\n");
    ASSERT_EQ(run({ "update", "--memory", "100M", "--pids-limit", "10", "limited" }).exit_status, 0);
    auto resources = m_scratch + "/resources.json";
    std::ofstream(resources) << R"({"memory":{"limit":-1},"pids":{"limit":-1}})";
    auto lifted = run({ "update", "--resources", resources, "limited" });
    EXPECT_EQ(lifted.exit_status, 0) << describe(lifted);
    EXPECT_GT(std::stoull(read_text(memory)), uint64_t(1) << 60);
    EXPECT_EQ(read_text(pids), "max\n");
    expect_refused({ "update", "--resources", "/tmp", "limited" }, "--resources /tmp: not a regular file");
}

TEST_F(OciInputValidationTest, KillTakesRuncsSignals)
{
    write_config(default_config({ "sleep", "1000" }));
    ASSERT_EQ(run({ "create", "--bundle", bundle(), "signalled" }).exit_status, 0);
    expect_refused({ "kill", "signalled", "9x" }, "unknown signal '9x'");
    expect_refused({ "kill", "signalled", "9 " }, "unknown signal '9 '");
    EXPECT_EQ(state("signalled")["status"], "created");
    EXPECT_EQ(run({ "kill", "signalled", "0" }).exit_status, 0);
    EXPECT_EQ(run({ "kill", "signalled", "cont" }).exit_status, 0);
    EXPECT_EQ(state("signalled")["status"], "created");
}

TEST(OciArgumentParsing, SignalsAsRuncParsesThem)
{
    EXPECT_EQ(vmm::oci::parse_signal("9"), SIGKILL);
    EXPECT_EQ(vmm::oci::parse_signal("0"), 0);
    EXPECT_EQ(vmm::oci::parse_signal("kill"), SIGKILL);
    EXPECT_EQ(vmm::oci::parse_signal("sigterm"), SIGTERM);
    EXPECT_EQ(vmm::oci::parse_signal("SIGCONT"), SIGCONT);
    EXPECT_EQ(vmm::oci::parse_signal(""), SIGTERM);
    for (auto const* text : { "9x", "9 ", " 9", "-1", "65", "SIGNOPE", "SIG" })
        EXPECT_THROW(vmm::oci::parse_signal(text), vmm::Error) << text;
}

TEST(OciArgumentParsing, MemorySizesAsRuncsRamInBytes)
{
    EXPECT_EQ(vmm::oci::parse_memory_size("100"), 100u);
    EXPECT_EQ(vmm::oci::parse_memory_size("100M"), 104857600u);
    EXPECT_EQ(vmm::oci::parse_memory_size("100m"), 104857600u);
    EXPECT_EQ(vmm::oci::parse_memory_size("100MiB"), 104857600u);
    EXPECT_EQ(vmm::oci::parse_memory_size("100 MB"), 104857600u);
    EXPECT_EQ(vmm::oci::parse_memory_size("512k"), 524288u);
    EXPECT_EQ(vmm::oci::parse_memory_size("1.5g"), 1610612736u);
    EXPECT_EQ(vmm::oci::parse_memory_size("2T"), uint64_t(2) << 40);
    EXPECT_EQ(vmm::oci::parse_memory_size("-1"), vmm::unlimited_limit);
    for (auto const* text : { "", "M", "10x", "1.2.3", "-5", "1e3", ".5m", "10MBB", "99999999999999p" })
        EXPECT_THROW(vmm::oci::parse_memory_size(text), vmm::Error) << text;
}

}
