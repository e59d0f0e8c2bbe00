// guest/init's command-line parsing and exit-status reporting, run on the host.
#include "guest/protocol.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <string>
#include <sys/wait.h>

namespace {

std::string encode(char const* text)
{
    char buffer[512];
    size_t length = vmm_percent_encode(text, buffer, sizeof(buffer));
    EXPECT_GT(length, 0u);
    return std::string(buffer, length);
}

TEST(Protocol, EncodingKeepsPlainWordsAndEscapesTheRest)
{
    EXPECT_EQ(encode("/bin/echo"), "/bin/echo");
    EXPECT_EQ(encode("exit 3"), "exit%203");
    EXPECT_EQ(encode("a\"b'c%d=e"), "a%22b%27c%25d%3De");
    EXPECT_EQ(encode("tab\tnew\nline"), "tab%09new%0Aline");
}

TEST(Protocol, EncodingRefusesWhatDoesNotFit)
{
    char buffer[4];
    EXPECT_EQ(vmm_percent_encode("abcd", buffer, sizeof(buffer)), 0u);
    EXPECT_EQ(vmm_percent_encode(" ", buffer, 3), 0u);
    EXPECT_EQ(vmm_percent_encode("abc", buffer, sizeof(buffer)), 3u);
}

TEST(Protocol, DecodingInvertsEncoding)
{
    char const* samples[] = { "sh", "-c", "exit 3", "echo \"quoted\" 'single' 100%", "\x01\x7f\xff" };
    for (auto const* sample : samples) {
        std::string encoded = encode(sample);
        char decoded[512];
        ASSERT_EQ(vmm_percent_decode(encoded.data(), encoded.size(), decoded, sizeof(decoded)), 0) << sample;
        EXPECT_STREQ(decoded, sample);
    }
}

TEST(Protocol, DecodingRejectsMalformedEscapes)
{
    char decoded[64];
    EXPECT_EQ(vmm_percent_decode("%", 1, decoded, sizeof(decoded)), -1);
    EXPECT_EQ(vmm_percent_decode("%4", 2, decoded, sizeof(decoded)), -1);
    EXPECT_EQ(vmm_percent_decode("%zz", 3, decoded, sizeof(decoded)), -1);
    EXPECT_EQ(vmm_percent_decode("%00", 3, decoded, sizeof(decoded)), -1) << "an embedded NUL would truncate the argument";
    EXPECT_EQ(vmm_percent_decode("abcdef", 6, decoded, 4), -1);
}

TEST(Protocol, ParsesModeAndArgumentsInOrder)
{
    vmm_guest_command command;
    ASSERT_EQ(vmm_parse_kernel_cmdline("console=ttyS0 vmm.mode=vm root=/dev/vda vmm.arg=sh vmm.arg=-c vmm.arg=exit%203 quiet\n", &command), 0);
    EXPECT_TRUE(command.is_vm);
    ASSERT_EQ(command.argument_count, 3);
    EXPECT_STREQ(command.arguments[0], "sh");
    EXPECT_STREQ(command.arguments[1], "-c");
    EXPECT_STREQ(command.arguments[2], "exit 3");
    EXPECT_EQ(command.arguments[3], nullptr);
    vmm_guest_command_free(&command);
}

TEST(Protocol, HostCommandLineIsNotVmMode)
{
    vmm_guest_command command;
    ASSERT_EQ(vmm_parse_kernel_cmdline("BOOT_IMAGE=/vmlinuz root=UUID=1234 ro quiet", &command), 0);
    EXPECT_FALSE(command.is_vm);
    EXPECT_EQ(command.argument_count, 0);
}

TEST(Protocol, WordsAfterDoubleDashBelongToTheKernelsInit)
{
    vmm_guest_command command;
    ASSERT_EQ(vmm_parse_kernel_cmdline("vmm.mode=vm vmm.arg=true -- vmm.arg=ignored", &command), 0);
    ASSERT_EQ(command.argument_count, 1);
    EXPECT_STREQ(command.arguments[0], "true");
    vmm_guest_command_free(&command);
}

TEST(Protocol, MalformedOrTooManyArgumentsFail)
{
    vmm_guest_command command;
    EXPECT_EQ(vmm_parse_kernel_cmdline("vmm.mode=vm vmm.arg=%G1", &command), -1);
    EXPECT_EQ(command.argument_count, 0);
    std::string many = "vmm.mode=vm";
    for (int index = 0; index <= VMM_MAX_ARGUMENTS; ++index)
        many += " vmm.arg=x";
    EXPECT_EQ(vmm_parse_kernel_cmdline(many.c_str(), &command), -1);
    EXPECT_EQ(command.argument_count, 0);
}

TEST(Protocol, NetworkSettingsAreParsed)
{
    vmm_guest_command command;
    ASSERT_EQ(vmm_parse_kernel_cmdline("vmm.mode=vm vmm.ip=192.168.7.9/24 vmm.gw=192.168.7.1 vmm.mtu=1400 vmm.dns=192.0.2.53,198.51.100.1 vmm.arg=true", &command), 0);
    EXPECT_EQ(command.network.configured, 1);
    EXPECT_EQ(command.network.address, htonl(0xc0a80709));
    EXPECT_EQ(command.network.prefix_length, 24);
    EXPECT_EQ(command.network.gateway, htonl(0xc0a80701));
    EXPECT_EQ(command.network.mtu, 1400u);
    ASSERT_EQ(command.network.name_server_count, 2);
    EXPECT_EQ(command.network.name_servers[0], htonl(0xc0000235));
    EXPECT_EQ(command.network.name_servers[1], htonl(0xc6336401));
    EXPECT_EQ(command.argument_count, 1);
    vmm_guest_command_free(&command);
    ASSERT_EQ(vmm_parse_kernel_cmdline("vmm.mode=vm vmm.arg=true", &command), 0);
    EXPECT_EQ(command.network.configured, 0) << "no vmm.ip=, no network set-up";
    vmm_guest_command_free(&command);
}

TEST(Protocol, MalformedNetworkSettingsFail)
{
    char const* malformed[] = {
        "vmm.ip=10.0.0.1", "vmm.ip=10.0.0.1/33", "vmm.ip=10.0.0/8", "vmm.ip=10.0.0.1/", "vmm.ip=/8", "vmm.ip=10.0.0.1/2x",
        "vmm.gw=10.0.0.256", "vmm.gw=", "vmm.mtu=0", "vmm.mtu=67", "vmm.mtu=65536", "vmm.mtu=15x0",
        "vmm.dns=", "vmm.dns=192.0.2.1,", "vmm.dns=,192.0.2.1", "vmm.dns=192.0.2.1,,192.0.2.2", "vmm.dns=2001:db8::1",
        "vmm.dns=192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4",
    };
    for (auto const* word : malformed) {
        vmm_guest_command command;
        std::string const cmdline = std::string("vmm.mode=vm ") + word;
        EXPECT_EQ(vmm_parse_kernel_cmdline(cmdline.c_str(), &command), -1) << word;
    }
}

TEST(Protocol, ExitStatusOfExitedAndKilledProcesses)
{
    EXPECT_EQ(vmm_exit_status_from_wait_status(0), 0);
    EXPECT_EQ(vmm_exit_status_from_wait_status(3 << 8), 3);
    EXPECT_EQ(vmm_exit_status_from_wait_status(255 << 8), 255);
    EXPECT_EQ(vmm_exit_status_from_wait_status(SIGKILL), 137);
    EXPECT_EQ(vmm_exit_status_from_wait_status(SIGSEGV | 0x80), 128 + SIGSEGV) << "a core dump keeps the signal's status";
}

}

TEST(Protocol, ParsesTheWindowSizeAndTheConsoleModes)
{
    vmm_guest_command command;
    ASSERT_EQ(vmm_parse_kernel_cmdline("vmm.mode=vm vmm.winsize=30x100 vmm.stdin=data vmm.stdout=data vmm.arg=true", &command), 0);
    EXPECT_EQ(command.window_rows, 30);
    EXPECT_EQ(command.window_columns, 100);
    EXPECT_TRUE(command.stdin_is_data);
    EXPECT_TRUE(command.stdout_is_data);
    EXPECT_EQ(command.argument_count, 1);
    vmm_guest_command_free(&command);

    ASSERT_EQ(vmm_parse_kernel_cmdline("vmm.mode=vm vmm.arg=true", &command), 0);
    EXPECT_EQ(command.window_rows, 0);
    EXPECT_EQ(command.window_columns, 0);
    EXPECT_FALSE(command.stdin_is_data);
    EXPECT_FALSE(command.stdout_is_data);
    vmm_guest_command_free(&command);
}

TEST(Protocol, AMalformedWindowSizeIsIgnored)
{
    for (auto const* size : { "30", "x100", "30x", "0x100", "30x0", "65536x80", "30x100x2", "3a0x100", "30X100", "123456x1" }) {
        vmm_guest_command command;
        std::string const cmdline = std::string("vmm.mode=vm vmm.winsize=") + size + " vmm.arg=true";
        ASSERT_EQ(vmm_parse_kernel_cmdline(cmdline.c_str(), &command), 0) << size;
        EXPECT_EQ(command.window_rows, 0) << size;
        EXPECT_EQ(command.window_columns, 0) << size;
        EXPECT_EQ(command.argument_count, 1) << "the command still runs: " << size;
        vmm_guest_command_free(&command);
    }
    vmm_guest_command command;
    ASSERT_EQ(vmm_parse_kernel_cmdline("vmm.winsize=65535x1", &command), 0);
    EXPECT_EQ(command.window_rows, 65535);
    EXPECT_EQ(command.window_columns, 1);
}
