// vmm --container's -e, -w and -u: guest/init applies them to the command,
// with the user looked up in the rootfs's own /etc/passwd and /etc/group.

#include "tests/container/ContainerTestSupport.h"

#include <filesystem>
#include <fstream>

using namespace container_test;

namespace {

class ContainerCommandSettingsTest : public ContainerTest { };

constexpr char const* identity_script = "grep -E '^(Uid|Gid|Groups|CapEff):' /proc/self/status | tr -s '\\t ' ' '; echo home=$HOME; pwd";

}

TEST_F(ContainerCommandSettingsTest, EnvironmentVariablesOverTheDefaults)
{
    ::setenv("VMM_TEST_FROM_HOST", "host value", 1);
    ::unsetenv("VMM_TEST_NOT_SET");
    auto result = run_shell(rootfs_directory, "echo \"$GREETING|$PATH|$VMM_TEST_FROM_HOST|${VMM_TEST_NOT_SET-unset}|$EMPTY.\"",
        { "-e", "GREETING=a b=c", "--env", "PATH=/bin", "-e", "VMM_TEST_FROM_HOST", "-e", "VMM_TEST_NOT_SET", "-e", "EMPTY=" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "a b=c|/bin|host value|unset|.\n") << describe(result);
}

TEST_F(ContainerCommandSettingsTest, WorkdirAndAUserByName)
{
    auto result = run_shell(rootfs_directory, identity_script, { "-w", "/etc", "-u", "nobody" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    // nobody's own group, no capabilities, its home from /etc/passwd.
    EXPECT_EQ(result.standard_output, "Uid: 65534 65534 65534 65534\nGid: 65534 65534 65534 65534\nGroups: 65534 \nCapEff: 0000000000000000\nhome=/\n/etc\n")
        << describe(result);
    // What it may not write, it does not.
    auto write = run_shell(rootfs_directory, "touch /etc/x", { "-u", "nobody" });
    EXPECT_EQ(write.exit_status, 1) << describe(write);
    EXPECT_NE(write.standard_error.find("Permission denied"), std::string::npos) << describe(write);
}

TEST_F(ContainerCommandSettingsTest, NumbersAndGroupsFromTheTreesFiles)
{
    // A tree's own account files (bound over the rootfs's): a user in two
    // groups besides its own.
    auto const directory = std::filesystem::temp_directory_path() / ("vmm-settings-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(directory);
    std::ofstream(directory / "passwd") << "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/tmp:/bin/sh\n";
    std::ofstream(directory / "group") << "root:x:0:\nalice:x:1000:\naudio:x:29:alice\nvideo:x:44:bob,alice\nstaff:x:50:\n";
    std::vector<std::string> const binds { "--volume", (directory / "passwd").string() + ":/etc/passwd:ro", "--volume", (directory / "group").string() + ":/etc/group:ro" };
    auto with = [&](std::vector<std::string> options) {
        options.insert(options.end(), binds.begin(), binds.end());
        return options;
    };

    // Its own group is among its groups, as initgroups(3) and docker give
    // it (the kernel lists them sorted); a GROUP given takes its place.
    auto own_group = run_shell(rootfs_directory, identity_script, with({ "-u", "alice" }));
    EXPECT_EQ(own_group.exit_status, 0) << describe(own_group);
    EXPECT_EQ(own_group.standard_output, "Uid: 1000 1000 1000 1000\nGid: 1000 1000 1000 1000\nGroups: 29 44 1000 \nCapEff: 0000000000000000\nhome=/tmp\n/\n")
        << describe(own_group);
    auto named = run_shell(rootfs_directory, identity_script, with({ "-u", "alice:staff" }));
    EXPECT_EQ(named.exit_status, 0) << describe(named);
    EXPECT_EQ(named.standard_output, "Uid: 1000 1000 1000 1000\nGid: 50 50 50 50\nGroups: 29 44 50 \nCapEff: 0000000000000000\nhome=/tmp\n/\n") << describe(named);

    auto numbered = run_shell(rootfs_directory, identity_script, with({ "-u", "4242:44", "-e", "HOME=/srv" }));
    EXPECT_EQ(numbered.exit_status, 0) << describe(numbered);
    EXPECT_EQ(numbered.standard_output, "Uid: 4242 4242 4242 4242\nGid: 44 44 44 44\nGroups: 44 \nCapEff: 0000000000000000\nhome=/srv\n/\n") << describe(numbered);

    auto unknown = run_shell(rootfs_directory, "true", with({ "-u", "alice:wheel" }));
    EXPECT_EQ(unknown.exit_status, 125) << describe(unknown);
    EXPECT_EQ(unknown.standard_error, "vmm-init: --user 'alice:wheel': no group 'wheel' in the root filesystem's /etc/group\n") << describe(unknown);
    std::filesystem::remove_all(directory);
}

TEST_F(ContainerCommandSettingsTest, BadSettingsAreOneLineErrors)
{
    auto missing = run_shell(rootfs_directory, "true", { "-w", "/no/such/directory" });
    EXPECT_EQ(missing.exit_status, 125) << describe(missing);
    EXPECT_EQ(missing.standard_error, "vmm-init: --workdir /no/such/directory: No such file or directory\n") << describe(missing);

    auto unknown = run_shell(rootfs_directory, "true", { "-u", "bob" });
    EXPECT_EQ(unknown.exit_status, 125) << describe(unknown);
    EXPECT_EQ(unknown.standard_error, "vmm-init: --user 'bob': no user 'bob' in the root filesystem's /etc/passwd\n") << describe(unknown);

    for (auto const& [options, message] : std::vector<std::pair<std::vector<std::string>, std::string>> {
             { { "-w", "etc" }, "vmm: --workdir 'etc': not an absolute path\n" },
             { { "-e", "=x" }, "vmm: --env '=x': not KEY=VALUE or KEY\n" },
             { { "-u", "a:" }, "vmm: --user 'a:': not USER[:GROUP] (a name or a number each)\n" },
         }) {
        auto result = run_shell(rootfs_directory, "true", options);
        EXPECT_EQ(result.exit_status, 2) << "a usage error: " << describe(result);
        EXPECT_EQ(result.standard_error, message) << describe(result);
    }

    // An unprivileged caller's container maps only root.
    auto unprivileged = run_vmm({ "--container", rootfs_directory, "-u", "nobody", "--", "true" }, 60, 65534);
    EXPECT_EQ(unprivileged.exit_status, 1) << describe(unprivileged);
    EXPECT_NE(unprivileged.standard_error.find("--user 'nobody': an unprivileged user's container has only root"), std::string::npos) << describe(unprivileged);
}
