// Bad bundles: one clear error each (as JSON in the --log file with
// --log-format json), a non-zero exit, and nothing left in --root, no
// cgroup and no mount.

#include "tests/oci/OciTestSupport.h"

namespace oci_test {

namespace {

class OciBadBundleTest : public OciFixture {
protected:
    // Runs create with --log-format json and expects one error naming `expected`.
    void expect_refused(std::string const& id, std::string const& expected)
    {
        auto log = m_scratch + "/log.json";
        std::filesystem::remove(log);
        auto result = run({ "--log", log, "--log-format", "json", "create", "--bundle", bundle(), id });
        EXPECT_EQ(result.exit_status, 1) << describe(result);
        EXPECT_NE(result.standard_error.find(expected), std::string::npos) << describe(result);
        EXPECT_EQ(std::count(result.standard_error.begin(), result.standard_error.end(), '\n'), 1) << describe(result);
        auto lines = read_text(log);
        ASSERT_EQ(std::count(lines.begin(), lines.end(), '\n'), 1) << lines;
        auto entry = nlohmann::json::parse(lines);
        EXPECT_EQ(entry["level"], "error");
        EXPECT_NE(entry["msg"].get<std::string>().find(expected), std::string::npos) << lines;
        EXPECT_TRUE(entry.contains("time"));
        expect_nothing_left(id, "vmm-oci/" + id);
        }
};

}

TEST_F(OciBadBundleTest, MissingConfig)
{
    std::filesystem::remove(bundle() + "/config.json");
    expect_refused("missing", "no config.json");
}

TEST_F(OciBadBundleTest, InvalidJson)
{
    std::ofstream(bundle() + "/config.json") << "{ \"ociVersion\": ";
    expect_refused("invalid", "invalid JSON");
}

TEST_F(OciBadBundleTest, WrongOciVersion)
{
    auto config = default_config({ "true" });
    config["ociVersion"] = "0.5.0";
    write_config(config);
    expect_refused("version", "ociVersion '0.5.0' is not supported");
}

TEST_F(OciBadBundleTest, RootPathOutsideTheBundle)
{
    auto config = default_config({ "true" });
    std::filesystem::create_directories(m_scratch + "/elsewhere");
    config["root"]["path"] = "../elsewhere";
    write_config(config);
    expect_refused("outside", "leads outside the bundle");
}

TEST_F(OciBadBundleTest, RootPathSymlinkOut)
{
    auto config = default_config({ "true" });
    std::filesystem::create_directory_symlink("/etc", bundle() + "/escape");
    config["root"]["path"] = "escape";
    write_config(config);
    expect_refused("symlink", "leads outside the bundle (to /etc)");
}

// A rootfs whose /proc or /sys points at / would get an unmasked,
// writable procfs or sysfs over the root, where maskedPaths and
// readonlyPaths do not look; no mount may cover the root through a symlink.
TEST_F(OciBadBundleTest, KernelFileSystemsAndMountsOverTheRootThroughSymlinksAreRefused)
{
    auto const rootfs = bundle() + "/rootfs";
    for (auto const* directory : { "proc", "sys" }) {
        std::filesystem::remove_all(rootfs + "/" + directory);
        std::filesystem::create_directory_symlink("/", rootfs + "/" + directory);
        write_config(default_config({ "true" }));
        expect_refused(std::string("link-") + directory, std::string("/") + directory + ": mount target is a symlink");
        std::filesystem::remove(rootfs + "/" + directory);
        std::filesystem::create_directory(rootfs + "/" + directory);
    }
    std::filesystem::create_directory_symlink("../..", rootfs + "/cover");
    auto config = default_config({ "true" });
    config["mounts"].push_back({ { "destination", "/cover" }, { "type", "tmpfs" }, { "source", "tmpfs" } });
    write_config(config);
    expect_refused("cover", "mount /cover: the target is the container's root itself");
}

TEST_F(OciBadBundleTest, DuplicateIdAndDeleteOfARunningContainer)
{
    write_config(default_config({ "sleep", "1000" }));
    ASSERT_EQ(run({ "create", "--bundle", bundle(), "dup" }).exit_status, 0);
    auto log = m_scratch + "/log.json";
    auto duplicate = run({ "--log", log, "--log-format", "json", "create", "--bundle", bundle(), "dup" });
    EXPECT_EQ(duplicate.exit_status, 1);
    EXPECT_NE(duplicate.standard_error.find("container dup already exists"), std::string::npos) << describe(duplicate);
    // The first one is untouched.
    EXPECT_EQ(state("dup")["status"], "created");
    ASSERT_EQ(run({ "start", "dup" }).exit_status, 0);
    auto running = run({ "--log", log, "--log-format", "json", "delete", "dup" });
    EXPECT_EQ(running.exit_status, 1);
    EXPECT_NE(running.standard_error.find("container dup is running"), std::string::npos) << describe(running);
    auto lines = read_text(log);
    EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 2) << lines;
    EXPECT_EQ(state("dup")["status"], "running");
    EXPECT_EQ(run({ "delete", "--force", "dup" }).exit_status, 0);
    expect_nothing_left("dup", "vmm-oci/dup");
}

TEST_F(OciBadBundleTest, UnknownContainer)
{
    auto result = run({ "state", "nosuch" });
    EXPECT_EQ(result.exit_status, 1);
    EXPECT_NE(result.standard_error.find("container nosuch does not exist"), std::string::npos) << describe(result);
    EXPECT_EQ(run({ "delete", "--force", "nosuch" }).exit_status, 0);
    auto bad_id = run({ "create", "--bundle", bundle(), "../escape" });
    EXPECT_EQ(bad_id.exit_status, 1);
    EXPECT_NE(bad_id.standard_error.find("is not valid"), std::string::npos) << describe(bad_id);
}

}
