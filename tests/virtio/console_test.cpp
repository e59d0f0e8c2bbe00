// virtio-console: guest output to a pipe, host input into receive buffers;
// and the factory that wires devices to KVM (skipped without /dev/kvm).
#include "common/EventLoop.h"
#include "common/Error.h"
#include "vmm/devices/virtio/ConsoleDevice.h"
#include "vmm/devices/virtio/MmioTransport.h"
#include "vmm/devices/virtio/VirtioDevices.h"
#include "vmm/arch/Architecture.h"
#include "vmm/kvm/Kvm.h"
#include "tests/virtio/KvmDeviceMachine.h"
#include "tests/virtio/QueueDriver.h"

#include <cstdlib>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::testing;

namespace {

class ConsoleTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        int fds[2];
        ASSERT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
        output_read = FileDescriptor(fds[0]);
        output_write = FileDescriptor(fds[1]);
        device = std::make_shared<ConsoleDevice>(std::make_shared<ConsoleOutput>(output_write.get()));
        transport = std::make_unique<MmioTransport>(memory, device, std::make_unique<CountingInterrupt>(interrupts));
        QueueDriver const* queues[] = { &receive, &transmit };
        ASSERT_EQ(initialise(*transport, feature::version_1 | feature::ring_event_index, queues), 15u);
    }

    std::string read_output()
    {
        char buffer[256];
        ssize_t length = ::read(output_read.get(), buffer, sizeof(buffer));
        return length > 0 ? std::string(buffer, length) : std::string();
    }

    GuestMemory memory { GuestMemory::create_flat(1 << 20) };
    QueueDriver receive { memory, 0x1000, 8 };
    QueueDriver transmit { memory, 0x4000, 8 };
    FileDescriptor output_read;
    FileDescriptor output_write;
    std::shared_ptr<std::atomic<int>> interrupts { std::make_shared<std::atomic<int>>(0) };
    std::shared_ptr<ConsoleDevice> device;
    std::unique_ptr<MmioTransport> transport;
};

TEST_F(ConsoleTest, IsAConsoleWithTwoQueues)
{
    EXPECT_EQ(read_register(*transport, VIRTIO_MMIO_DEVICE_ID), 3u);
    write_register(*transport, VIRTIO_MMIO_QUEUE_SEL, 1);
    EXPECT_EQ(read_register(*transport, VIRTIO_MMIO_QUEUE_NUM_MAX), 256u);
    write_register(*transport, VIRTIO_MMIO_QUEUE_SEL, 2);
    EXPECT_EQ(read_register(*transport, VIRTIO_MMIO_QUEUE_NUM_MAX), 0u) << "no multiport control queues";
}

TEST_F(ConsoleTest, GuestOutputReachesTheOutputFd)
{
    memory.write_bytes(0x20000, std::span<uint8_t const>(reinterpret_cast<uint8_t const*>("hello, "), 7));
    memory.write_bytes(0x21000, std::span<uint8_t const>(reinterpret_cast<uint8_t const*>("hvc0\n"), 5));
    transmit.set_descriptor(0, 0x20000, 7, descriptor_flag::next, 1);
    transmit.set_descriptor(1, 0x21000, 5);
    transmit.make_available(0);
    transport->process_queues();
    EXPECT_EQ(read_output(), "hello, hvc0\n");
    EXPECT_EQ(transmit.used_index(), 1);
    EXPECT_EQ(*interrupts, 1);
}

TEST_F(ConsoleTest, HostInputFillsReceiveBuffersInOrder)
{
    receive.set_descriptor(0, 0x30000, 4, descriptor_flag::write);
    receive.set_descriptor(1, 0x31000, 4, descriptor_flag::write);
    receive.make_available(0);
    receive.make_available(1);
    std::string const input = "abcdefghij";
    device->queue_input({ reinterpret_cast<uint8_t const*>(input.data()), input.size() });
    transport->process_queues();
    ASSERT_EQ(receive.used_index(), 2);
    EXPECT_EQ(receive.used_element(0).length, 4u);
    EXPECT_EQ(receive.used_element(1).length, 4u);
    char got[8];
    memory.read_bytes(0x30000, { reinterpret_cast<uint8_t*>(got), 4 });
    memory.read_bytes(0x31000, { reinterpret_cast<uint8_t*>(got + 4), 4 });
    EXPECT_EQ(std::string(got, 8), "abcdefgh");
    EXPECT_EQ(device->pending_input(), 2u) << "the rest waits for the next buffer";
    // The guest posts another buffer and notifies: the rest arrives.
    receive.set_descriptor(2, 0x32000, 64, descriptor_flag::write);
    receive.make_available(2);
    transport->process_queues();
    ASSERT_EQ(receive.used_index(), 3);
    EXPECT_EQ(receive.used_element(2).length, 2u);
    EXPECT_EQ(device->pending_input(), 0u);
}

TEST_F(ConsoleTest, InputBeyondTheLimitIsDropped)
{
    std::vector<uint8_t> big(ConsoleDevice::input_limit + 100, 'x');
    device->queue_input(big);
    EXPECT_EQ(device->pending_input(), ConsoleDevice::input_limit);
}

TEST_F(ConsoleTest, ClosedOutputDoesNotStopTheGuest)
{
    output_read.reset();
    memory.write_bytes(0x20000, std::span<uint8_t const>(reinterpret_cast<uint8_t const*>("x"), 1));
    transmit.set_descriptor(0, 0x20000, 1);
    transmit.make_available(0);
    signal(SIGPIPE, SIG_IGN);
    transport->process_queues();
    EXPECT_EQ(transmit.used_index(), 1);
}

// The host terminal's size as a made-up driver sees it: F_SIZE offered,
// cols and rows in the configuration space, and a configuration change
// interrupt (with a new generation) when it changes.
TEST_F(ConsoleTest, WindowSizeIsInTheConfigurationAndItsChangesInterrupt)
{
    write_register(*transport, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    EXPECT_EQ(read_register(*transport, VIRTIO_MMIO_DEVICE_FEATURES) & ConsoleDevice::feature_size, ConsoleDevice::feature_size);
    auto const generation = read_register(*transport, VIRTIO_MMIO_CONFIG_GENERATION);
    int const interrupts_before = *interrupts;

    transport->change_configuration([&] { device->set_window_size({ .rows = 30, .columns = 100 }); });
    EXPECT_EQ(*interrupts, interrupts_before + 1);
    EXPECT_EQ(read_register(*transport, VIRTIO_MMIO_INTERRUPT_STATUS), interrupt::configuration_change);
    EXPECT_NE(read_register(*transport, VIRTIO_MMIO_CONFIG_GENERATION), generation);
    // struct virtio_console_config: le16 cols, le16 rows.
    uint16_t columns = 0;
    uint16_t rows = 0;
    transport->read(VIRTIO_MMIO_CONFIG + 0, { reinterpret_cast<uint8_t*>(&columns), 2 });
    transport->read(VIRTIO_MMIO_CONFIG + 2, { reinterpret_cast<uint8_t*>(&rows), 2 });
    EXPECT_EQ(columns, 100);
    EXPECT_EQ(rows, 30);
    write_register(*transport, VIRTIO_MMIO_INTERRUPT_ACK, interrupt::configuration_change);
    EXPECT_EQ(read_register(*transport, VIRTIO_MMIO_INTERRUPT_STATUS), 0u);

    transport->change_configuration([&] { device->set_window_size({ .rows = 20, .columns = 80 }); });
    EXPECT_EQ(*interrupts, interrupts_before + 2);
    EXPECT_EQ(read_register(*transport, VIRTIO_MMIO_CONFIG), 80u | (20u << 16));
}

TEST(ConsoleWindowSize, ASizeSetBeforeTheDriverIsUpIsAnnouncedAtDriverOk)
{
    auto memory = GuestMemory::create_flat(1 << 20);
    auto interrupts = std::make_shared<std::atomic<int>>(0);
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    FileDescriptor output_read(fds[0]), output_write(fds[1]);
    auto device = std::make_shared<ConsoleDevice>(std::make_shared<ConsoleOutput>(output_write.get()));
    MmioTransport transport(memory, device, std::make_unique<CountingInterrupt>(interrupts));
    transport.change_configuration([&] { device->set_window_size({ .rows = 50, .columns = 132 }); });
    EXPECT_EQ(*interrupts, 0) << "no interrupt before the driver is up";
    QueueDriver receive { memory, 0x1000, 8 };
    QueueDriver transmit { memory, 0x4000, 8 };
    QueueDriver const* queues[] = { &receive, &transmit };
    ASSERT_EQ(initialise(transport, feature::version_1 | ConsoleDevice::feature_size, queues), 15u);
    EXPECT_EQ(*interrupts, 1);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_INTERRUPT_STATUS) & interrupt::configuration_change, interrupt::configuration_change);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_CONFIG), 132u | (50u << 16));
}

TEST_F(ConsoleTest, TakingAllQueuedInputCallsBack)
{
    int taken = 0;
    device->set_input_taken_callback([&] { ++taken; });
    receive.set_descriptor(0, 0x30000, 4, descriptor_flag::write);
    receive.make_available(0);
    std::string const input = "abcdef";
    device->queue_input({ reinterpret_cast<uint8_t const*>(input.data()), input.size() });
    transport->process_queues();
    EXPECT_EQ(taken, 0) << "two bytes still wait";
    receive.set_descriptor(1, 0x31000, 4, descriptor_flag::write);
    receive.make_available(1);
    transport->process_queues();
    EXPECT_EQ(taken, 1);
    transport->process_queues();
    EXPECT_EQ(taken, 1) << "only when input was taken";
}

TEST(VirtioDevices, KernelCommandLineEntry)
{
    EXPECT_EQ(kernel_cmdline_entry(0xc0000000, 5), "virtio_mmio.device=4K@0xc0000000:5");
    EXPECT_EQ(kernel_cmdline_entry(0xc0001000, 6), "virtio_mmio.device=4K@0xc0001000:6");
}

TEST(VirtioDevices, FactoriesWireDevicesToKvm)
{
    if (auto const reason = kvm_device_machine_unavailable())
        GTEST_SKIP() << *reason;
    KvmDeviceMachine machine;
    auto const context = machine.context(0xc0000000, 5);

    FileDescriptor image(memfd_create("factory-image", MFD_CLOEXEC));
    ASSERT_EQ(ftruncate(image.get(), 1 << 20), 0);
    auto path = "/proc/self/fd/" + std::to_string(image.get());
    auto block = create_block_device(context, DiskOptions { path, DiskAccess::ReadOnly });
    uint32_t value = 0;
    block->read(VIRTIO_MMIO_DEVICE_ID, { reinterpret_cast<uint8_t*>(&value), 4 });
    EXPECT_EQ(value, 2u);

    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    FileDescriptor output_read(fds[0]), output_write(fds[1]);
    auto const console_context = machine.context(0xc0001000, 6);
    auto console = create_console_device(console_context, std::make_shared<ConsoleOutput>(output_write.get()));
    console->transport()->read(VIRTIO_MMIO_DEVICE_ID, { reinterpret_cast<uint8_t*>(&value), 4 });
    EXPECT_EQ(value, 3u);
    console->queue_input(std::span<uint8_t const>(reinterpret_cast<uint8_t const*>("x"), 1));

    EXPECT_THROW(create_block_device(context, DiskOptions { "/nonexistent", DiskAccess::ReadWrite }), Error);
}

}
