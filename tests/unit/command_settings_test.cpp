// -e, -w and -u: vmm's checks, their way to guest/init on the kernel command
// line, and guest/init's lookup of the user in the tree's own files.
#include "common/CommandSettings.h"
#include "common/Error.h"
#include "guest/protocol.h"
#include "guest/user.h"
#include "vmm/machine/KernelCmdline.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace vmm;

namespace {

std::string error_of(std::vector<std::string> const& environment, std::optional<std::string> const& user, std::optional<std::string> const& workdir)
{
    try {
        command_settings_from_options(environment, user, workdir);
    } catch (Error const& error) {
        return error.what();
    }
    return "";
}

class UserLookup : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_directory = std::filesystem::temp_directory_path() / ("vmm-user-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(m_directory);
        std::ofstream(passwd()) << "root:x:0:0:root:/root:/bin/sh\n"
                                   "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
                                   "nohome:x:1001:1001::::\n";
        std::ofstream(group()) << "root:x:0:\n"
                                  "alice:x:1000:\n"
                                  "audio:x:29:bob,alice\n"
                                  "video:x:44:alice\n"
                                  "staff:x:50:\n";
    }
    void TearDown() override { std::filesystem::remove_all(m_directory); }

    std::string passwd() const { return (m_directory / "passwd").string(); }
    std::string group() const { return (m_directory / "group").string(); }

    int resolve(char const* specification, vmm_command_user& user, std::string& error) const
    {
        char text[512] = "";
        int result = vmm_resolve_user(specification, passwd().c_str(), group().c_str(), &user, text, sizeof(text));
        error = text;
        return result;
    }

private:
    std::filesystem::path m_directory;
};

}

TEST(CommandSettings, FormsAreChecked)
{
    ::setenv("VMM_SETTINGS_TEST", "from vmm", 1);
    ::unsetenv("VMM_SETTINGS_TEST_UNSET");
    auto settings = command_settings_from_options({ "A=1", "B=", "VMM_SETTINGS_TEST", "VMM_SETTINGS_TEST_UNSET", "C=x=y" }, "alice:audio", "/srv");
    EXPECT_EQ(settings.environment, (std::vector<std::string> { "A=1", "B=", "VMM_SETTINGS_TEST=from vmm", "C=x=y" }));
    EXPECT_EQ(settings.user, "alice:audio");
    EXPECT_EQ(settings.workdir, "/srv");
    EXPECT_EQ(container_init_options(settings),
        (std::vector<std::string> { "--user=alice:audio", "--workdir=/srv", "--env=A=1", "--env=B=", "--env=VMM_SETTINGS_TEST=from vmm", "--env=C=x=y" }));
    EXPECT_TRUE(container_init_options(command_settings_from_options({}, std::nullopt, std::nullopt)).empty());

    EXPECT_EQ(error_of({ "=1" }, std::nullopt, std::nullopt), "--env '=1': not KEY=VALUE or KEY");
    EXPECT_EQ(error_of({ "" }, std::nullopt, std::nullopt), "--env '': not KEY=VALUE or KEY");
    EXPECT_EQ(error_of({}, ":audio", std::nullopt), "--user ':audio': not USER[:GROUP] (a name or a number each)");
    EXPECT_EQ(error_of({}, "alice:", std::nullopt), "--user 'alice:': not USER[:GROUP] (a name or a number each)");
    EXPECT_EQ(error_of({}, "a:b:c", std::nullopt), "--user 'a:b:c': not USER[:GROUP] (a name or a number each)");
    EXPECT_EQ(error_of({}, std::nullopt, "srv"), "--workdir 'srv': not an absolute path");
    EXPECT_NE(error_of(std::vector<std::string>(VMM_MAX_ENVIRONMENT + 1, "A=1"), std::nullopt, std::nullopt).find("at most 64"), std::string::npos);
    EXPECT_EQ(error_of({}, std::nullopt, std::nullopt), "");
}

// An empty -u or -w is given, not absent: refused rather than read as root or /.
TEST(CommandSettings, EmptyUserAndWorkdirAreRefused)
{
    EXPECT_EQ(error_of({}, "", std::nullopt), "--user: an empty name (USER[:GROUP], a name or a number each)");
    EXPECT_EQ(error_of({}, std::nullopt, ""), "--workdir: an empty path (an absolute directory)");
}

TEST(CommandSettings, RoundTripThroughGuestInitsParser)
{
    CmdlineInputs inputs;
    inputs.command = { "pwd" };
    inputs.command_settings = command_settings_from_options({ "GREETING=a b %c", "EMPTY=" }, "alice:audio", "/home/my dir");
    inputs.hostname = "guest-1";
    auto const cmdline = build_kernel_cmdline(inputs, 2047);
    EXPECT_NE(cmdline.find(" vmm.env=GREETING%3Da%20b%20%25c vmm.env=EMPTY%3D "), std::string::npos) << cmdline;
    vmm_guest_command command;
    ASSERT_EQ(vmm_parse_kernel_cmdline(cmdline.c_str(), &command), 0);
    EXPECT_STREQ(command.user, "alice:audio");
    EXPECT_STREQ(command.workdir, "/home/my dir");
    EXPECT_STREQ(command.hostname, "guest-1");
    ASSERT_EQ(command.environment_count, 2);
    EXPECT_STREQ(command.environment[0], "GREETING=a b %c");
    EXPECT_STREQ(command.environment[1], "EMPTY=");
    EXPECT_EQ(command.environment[2], nullptr);
    ASSERT_EQ(command.argument_count, 1);
    EXPECT_STREQ(command.arguments[0], "pwd");
    vmm_guest_command_free(&command);

    // Without them: none.
    ASSERT_EQ(vmm_parse_kernel_cmdline("vmm.mode=vm vmm.arg=true", &command), 0);
    EXPECT_EQ(command.user, nullptr);
    EXPECT_EQ(command.workdir, nullptr);
    EXPECT_EQ(command.hostname, nullptr);
    EXPECT_EQ(command.environment_count, 0);
    vmm_guest_command_free(&command);
}

TEST(CommandSettings, GuestInitRefusesTwoUsersAndTooManyVariables)
{
    vmm_guest_command command;
    EXPECT_EQ(vmm_parse_kernel_cmdline("vmm.mode=vm vmm.user=a vmm.user=b", &command), -1);
    EXPECT_EQ(vmm_parse_kernel_cmdline("vmm.mode=vm vmm.workdir=%zz", &command), -1);
    std::string cmdline = "vmm.mode=vm";
    for (int index = 0; index <= VMM_MAX_ENVIRONMENT; ++index)
        cmdline += " vmm.env=V" + std::to_string(index) + "%3D1";
    EXPECT_EQ(vmm_parse_kernel_cmdline(cmdline.c_str(), &command), -1);
}

TEST_F(UserLookup, NamesNumbersAndGroups)
{
    vmm_command_user user;
    std::string error;
    ASSERT_EQ(resolve("alice", user, error), 0) << error;
    EXPECT_EQ(user.uid, 1000u);
    EXPECT_EQ(user.gid, 1000u);
    EXPECT_STREQ(user.home, "/home/alice");
    // Its own group first, as initgroups(3) and docker give it, then those listing it.
    ASSERT_EQ(user.group_count, 3u);
    EXPECT_EQ(user.groups[0], 1000u);
    EXPECT_EQ(user.groups[1], 29u);
    EXPECT_EQ(user.groups[2], 44u);

    // A group by name or number replaces the entry's; the memberships stay.
    ASSERT_EQ(resolve("alice:staff", user, error), 0) << error;
    EXPECT_EQ(user.gid, 50u);
    ASSERT_EQ(user.group_count, 3u);
    EXPECT_EQ(user.groups[0], 50u);
    EXPECT_EQ(user.groups[1], 29u);
    // A group given that also lists the user is there once.
    ASSERT_EQ(resolve("alice:audio", user, error), 0) << error;
    ASSERT_EQ(user.group_count, 2u);
    EXPECT_EQ(user.groups[0], 29u);
    EXPECT_EQ(user.groups[1], 44u);
    ASSERT_EQ(resolve("1000:7", user, error), 0) << error;
    EXPECT_EQ(user.uid, 1000u);
    EXPECT_EQ(user.gid, 7u);
    EXPECT_STREQ(user.home, "/home/alice");

    // A number without an entry: group 0 (or the one given), home "/", no memberships.
    ASSERT_EQ(resolve("4242", user, error), 0) << error;
    EXPECT_EQ(user.uid, 4242u);
    EXPECT_EQ(user.gid, 0u);
    EXPECT_STREQ(user.home, "/");
    ASSERT_EQ(user.group_count, 1u);
    EXPECT_EQ(user.groups[0], 0u);
    ASSERT_EQ(resolve("4242:audio", user, error), 0) << error;
    EXPECT_EQ(user.gid, 29u);

    // An entry with an empty home gets "/".
    ASSERT_EQ(resolve("nohome", user, error), 0) << error;
    EXPECT_STREQ(user.home, "/");
}

TEST_F(UserLookup, UnknownNamesAreErrorsThatNameTheFile)
{
    vmm_command_user user;
    std::string error;
    EXPECT_EQ(resolve("bob", user, error), -1);
    EXPECT_EQ(error, "--user 'bob': no user 'bob' in the root filesystem's " + passwd());
    EXPECT_EQ(resolve("alice:wheel", user, error), -1);
    EXPECT_EQ(error, "--user 'alice:wheel': no group 'wheel' in the root filesystem's " + group());
    EXPECT_EQ(resolve(":x", user, error), -1);
    EXPECT_EQ(error, "--user ':x': not USER[:GROUP]");
    // 2^32 - 1 means "unchanged" to setuid: not a user.
    EXPECT_EQ(resolve("4294967295", user, error), -1);
    EXPECT_EQ(vmm_resolve_user("0", "/nonexistent/passwd", "/nonexistent/group", &user, nullptr, 0), 0);
    // A fifo in the tree's place of /etc/passwd is no file to read (nor to hang on).
    auto const fifo = passwd() + ".fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    char text[512] = "";
    EXPECT_EQ(vmm_resolve_user("alice", fifo.c_str(), group().c_str(), &user, text, sizeof(text)), -1);
    EXPECT_NE(std::string(text).find("no user 'alice'"), std::string::npos) << text;
}
