// The guest kernel command line: defaults, devices, PVM options, the encoded command, the length limit.
#include "common/Error.h"
#include "vmm/machine/KernelCmdline.h"
#include "guest/protocol.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

using namespace vmm;

TEST(KernelCmdline, DefaultsForTheSerialConsole)
{
    CmdlineInputs inputs;
    inputs.platform_options = "reboot=k panic=1";
    inputs.root_mount = RootMount::Kernel;
    auto const cmdline = build_kernel_cmdline(inputs, 2047);
    EXPECT_TRUE(cmdline.starts_with("reboot=k panic=1 ")) << "the architecture's options come first";
    EXPECT_NE(cmdline.find("console=ttyS0"), std::string::npos);
    EXPECT_EQ(cmdline.find("console=hvc0"), std::string::npos);
    EXPECT_NE(cmdline.find("reboot=k"), std::string::npos);
    EXPECT_NE(cmdline.find("panic=1"), std::string::npos);
    EXPECT_NE(cmdline.find("root=/dev/vda"), std::string::npos);
    EXPECT_NE(cmdline.find("vmm.mode=vm"), std::string::npos);
    EXPECT_EQ(cmdline.find("clearcpuid"), std::string::npos) << "PVM options only on PVM hosts";
}

TEST(KernelCmdline, VirtioConsolePvmAndDevices)
{
    CmdlineInputs inputs;
    inputs.console = ConsoleKind::Virtio;
    inputs.host = HostKind::Pvm;
    inputs.virtio_devices = { "virtio_mmio.device=4K@0xc0000000:5" };
    inputs.extra = "loglevel=7";
    auto const cmdline = build_kernel_cmdline(inputs, 2047);
    EXPECT_NE(cmdline.find("console=hvc0"), std::string::npos);
    EXPECT_NE(cmdline.find("noxsave clearcpuid=smap"), std::string::npos);
    EXPECT_NE(cmdline.find("virtio_mmio.device=4K@0xc0000000:5"), std::string::npos);
    EXPECT_TRUE(cmdline.ends_with(" loglevel=7")) << "--cmdline comes last so that it wins";
    EXPECT_EQ(cmdline.find("root="), std::string::npos) << "no root disk, no root=";
}

TEST(KernelCmdline, CommandRoundTripsThroughGuestInitsParser)
{
    CmdlineInputs inputs;
    inputs.command = { "sh", "-c", "echo \"a b\" 'c' 100% && exit 3" };
    auto const cmdline = build_kernel_cmdline(inputs, 2047);
    vmm_guest_command command;
    ASSERT_EQ(vmm_parse_kernel_cmdline(cmdline.c_str(), &command), 0);
    EXPECT_TRUE(command.is_vm);
    ASSERT_EQ(command.argument_count, 3);
    EXPECT_STREQ(command.arguments[2], "echo \"a b\" 'c' 100% && exit 3");
    vmm_guest_command_free(&command);
}

TEST(KernelCmdline, TooLongIsAClearError)
{
    CmdlineInputs inputs;
    inputs.command = { std::string(3000, 'x') };
    try {
        build_kernel_cmdline(inputs, 2047);
        FAIL() << "no error";
    } catch (Error const& error) {
        EXPECT_NE(std::string(error.what()).find("at most 2047"), std::string::npos) << error.what();
    }
}

TEST(KernelCmdline, InitMountsTheRootFromVmmsInitramfs)
{
    CmdlineInputs inputs;
    inputs.root_mount = RootMount::Init;
    inputs.root_access = DiskAccess::ReadOnly;
    auto const cmdline = build_kernel_cmdline(inputs, 2047);
    EXPECT_EQ(cmdline.find("root=/dev/vda"), std::string::npos) << "the kernel must not mount a root of its own: " << cmdline;
    EXPECT_NE(cmdline.find(" rdinit=/init "), std::string::npos) << cmdline;
    vmm_guest_command command {};
    ASSERT_EQ(vmm_parse_kernel_cmdline(cmdline.c_str(), &command), 0);
    EXPECT_EQ(command.is_vm, 1);
    EXPECT_EQ(command.root_disk, VMM_ROOT_READ_ONLY);
    vmm_guest_command_free(&command);

    inputs.root_access = DiskAccess::ReadWrite;
    ASSERT_EQ(vmm_parse_kernel_cmdline(build_kernel_cmdline(inputs, 2047).c_str(), &command), 0);
    EXPECT_EQ(command.root_disk, VMM_ROOT_READ_WRITE);
    vmm_guest_command_free(&command);
}

TEST(KernelCmdline, GuestInitRefusesAnUnknownRootAccess)
{
    vmm_guest_command command {};
    EXPECT_EQ(vmm_parse_kernel_cmdline("vmm.mode=vm vmm.root=rx", &command), -1);
    ASSERT_EQ(vmm_parse_kernel_cmdline("vmm.mode=vm root=/dev/vda", &command), 0);
    EXPECT_EQ(command.root_disk, VMM_ROOT_NONE) << "the kernel's root= is not vmm's";
}

TEST(KernelCmdline, NetworkSettingsRoundTripThroughGuestInitsParser)
{
    CmdlineInputs inputs;
    inputs.network = GuestNetwork { "10.88.0.5/16", "10.88.0.1", 9000, { "192.0.2.53", "198.51.100.1" } };
    inputs.command = { "true" };
    auto const cmdline = build_kernel_cmdline(inputs, 2047);
    EXPECT_NE(cmdline.find(" vmm.ip=10.88.0.5/16 vmm.gw=10.88.0.1 vmm.mtu=9000 vmm.dns=192.0.2.53,198.51.100.1"), std::string::npos) << cmdline;
    vmm_guest_command command;
    ASSERT_EQ(vmm_parse_kernel_cmdline(cmdline.c_str(), &command), 0);
    EXPECT_TRUE(command.network.configured);
    EXPECT_EQ(command.network.address, htonl(0x0a580005));
    EXPECT_EQ(command.network.prefix_length, 16);
    EXPECT_EQ(command.network.gateway, htonl(0x0a580001));
    EXPECT_EQ(command.network.mtu, 9000u);
    ASSERT_EQ(command.network.name_server_count, 2);
    EXPECT_EQ(command.network.name_servers[1], htonl(0xc6336401));
    vmm_guest_command_free(&command);

    inputs.network->gateway.clear();
    EXPECT_EQ(build_kernel_cmdline(inputs, 2047).find("vmm.gw="), std::string::npos) << "no gateway, no default route";
    inputs.network->name_servers.clear();
    EXPECT_EQ(build_kernel_cmdline(inputs, 2047).find("vmm.dns="), std::string::npos) << "no name servers, the tree's own resolv.conf";
    inputs.network.reset();
    EXPECT_EQ(build_kernel_cmdline(inputs, 2047).find("vmm.ip="), std::string::npos);
}

TEST(KernelCmdline, TerminalSizeAndConsoleModesReachGuestInit)
{
    CmdlineInputs inputs;
    inputs.window_size = WindowSize { 30, 100 };
    inputs.input = HostStream::Data;
    inputs.command = { "wc", "-l" };
    auto const cmdline = build_kernel_cmdline(inputs, 2047);
    vmm_guest_command command;
    ASSERT_EQ(vmm_parse_kernel_cmdline(cmdline.c_str(), &command), 0) << cmdline;
    EXPECT_EQ(command.window_rows, 30);
    EXPECT_EQ(command.window_columns, 100);
    EXPECT_TRUE(command.stdin_is_data);
    EXPECT_FALSE(command.stdout_is_data);
    EXPECT_EQ(command.argument_count, 2);
    vmm_guest_command_free(&command);

    // At a terminal without a known size: neither a size nor a data mode.
    CmdlineInputs terminal;
    auto const plain = build_kernel_cmdline(terminal, 2047);
    EXPECT_EQ(plain.find("vmm.winsize="), std::string::npos) << plain;
    EXPECT_EQ(plain.find("vmm.stdin="), std::string::npos) << plain;
    EXPECT_EQ(plain.find("vmm.stdout="), std::string::npos) << plain;
    terminal.output = HostStream::Data;
    EXPECT_NE(build_kernel_cmdline(terminal, 2047).find(" vmm.stdout=data"), std::string::npos);
}
