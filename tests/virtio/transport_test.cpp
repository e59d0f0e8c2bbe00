// The virtio-mmio registers as Linux's virtio_mmio driver uses them: probing,
// feature negotiation, the status state machine, queue setup, interrupts and
// DEVICE_NEEDS_RESET on a corrupt ring.
#include "vmm/devices/virtio/MmioTransport.h"
#include "vmm/devices/virtio/Virtio.h"
#include "tests/virtio/QueueDriver.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::testing;

namespace {

// A device that returns every chain with the length of its writable buffers.
class EchoDevice final : public VirtioDevice {
public:
    std::string name() const override { return "echo"; }
    DeviceType type() const override { return DeviceType::Console; }
    uint64_t features() const override { return feature::ring_event_index | (1ull << 0) | (1ull << 40); }
    uint16_t queue_count() const override { return 1; }
    std::span<uint8_t const> configuration() const override { return m_configuration; }
    QueueHealth process_queue(uint16_t, Virtqueue& queue) override
    {
        return queue.drain(m_chain, [&](DescriptorChain const& chain) { ++served; return static_cast<uint32_t>(chain.writable_length); });
    }
    void reset() override { ++resets; }

    int served { 0 };
    int resets { 0 };

private:
    std::array<uint8_t, 8> m_configuration { 1, 2, 3, 4, 5, 6, 7, 8 };
    DescriptorChain m_chain;
};

class TransportTest : public ::testing::Test {
protected:
    GuestMemory memory { GuestMemory::create_flat(1 << 20) };
    std::shared_ptr<EchoDevice> device { std::make_shared<EchoDevice>() };
    std::shared_ptr<std::atomic<int>> interrupts { std::make_shared<std::atomic<int>>(0) };
    MmioTransport transport { memory, device, std::make_unique<CountingInterrupt>(interrupts) };
    QueueDriver driver { memory, 0x4000, 16 };

    uint32_t initialise_with(uint64_t features)
    {
        QueueDriver const* queues[] = { &driver };
        return initialise(transport, features, queues);
    }
};

constexpr uint32_t all_status = status::acknowledge | status::driver | status::features_ok | status::driver_ok;

TEST_F(TransportTest, IdentifiesAsModernVirtioMmio)
{
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976u);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_VERSION), 2u);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_DEVICE_ID), 3u);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_NUM_MAX), 256u);
    write_register(transport, VIRTIO_MMIO_QUEUE_SEL, 1);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_NUM_MAX), 0u) << "a queue the device lacks has QueueNumMax 0";
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffffu) << "no shared memory";
}

TEST_F(TransportTest, OffersItsFeaturesAndVersion1)
{
    write_register(transport, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_DEVICE_FEATURES), (1u << 29) | 1u);
    write_register(transport, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_DEVICE_FEATURES), 1u | (1u << 8));
    write_register(transport, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_DEVICE_FEATURES), 0u);
}

TEST_F(TransportTest, AcceptsASubsetWithVersion1)
{
    EXPECT_EQ(initialise_with(feature::version_1 | feature::ring_event_index), all_status);
    EXPECT_EQ(transport.negotiated_features(), feature::version_1 | feature::ring_event_index);
}

TEST_F(TransportTest, RefusesFeaturesItDidNotOffer)
{
    uint32_t const status = initialise_with(feature::version_1 | feature::ring_indirect_descriptors);
    EXPECT_FALSE(status & status::features_ok);
    EXPECT_TRUE(status & status::device_needs_reset) << "DRIVER_OK without FEATURES_OK";
}

TEST_F(TransportTest, RefusesLegacyDrivers)
{
    EXPECT_FALSE(initialise_with(feature::ring_event_index) & status::features_ok);
}

TEST_F(TransportTest, FeaturesAreFixedAfterFeaturesOk)
{
    initialise_with(feature::version_1);
    write_register(transport, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    write_register(transport, VIRTIO_MMIO_DRIVER_FEATURES, 1u << 29);
    EXPECT_EQ(transport.negotiated_features(), feature::version_1);
}

TEST_F(TransportTest, DriverCannotClearStatusBits)
{
    initialise_with(feature::version_1);
    write_register(transport, VIRTIO_MMIO_STATUS, status::acknowledge);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_STATUS), all_status);
}

TEST_F(TransportTest, ResetClearsEverything)
{
    initialise_with(feature::version_1);
    write_register(transport, VIRTIO_MMIO_STATUS, 0);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_STATUS), 0u);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_READY), 0u);
    EXPECT_EQ(transport.negotiated_features(), 0u);
    EXPECT_GE(device->resets, 2);
}

TEST_F(TransportTest, QueueRegistersHold64BitAddresses)
{
    write_register(transport, VIRTIO_MMIO_STATUS, 1 | 2);
    write_register(transport, VIRTIO_MMIO_QUEUE_SEL, 0);
    write_register(transport, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x12345000);
    write_register(transport, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0x1);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_DESC_LOW), 0x12345000u);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_DESC_HIGH), 1u);
}

TEST_F(TransportTest, QueueOutsideMemoryNeedsReset)
{
    write_register(transport, VIRTIO_MMIO_STATUS, 1 | 2);
    write_register(transport, VIRTIO_MMIO_DRIVER_FEATURES, 0);
    write_register(transport, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    write_register(transport, VIRTIO_MMIO_DRIVER_FEATURES, 1);
    write_register(transport, VIRTIO_MMIO_STATUS, 1 | 2 | 8);
    write_register(transport, VIRTIO_MMIO_QUEUE_SEL, 0);
    write_register(transport, VIRTIO_MMIO_QUEUE_DESC_LOW, 0);
    write_register(transport, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0x10);
    write_register(transport, VIRTIO_MMIO_QUEUE_READY, 1);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_READY), 0u);
    EXPECT_TRUE(read_register(transport, VIRTIO_MMIO_STATUS) & status::device_needs_reset);
}

TEST_F(TransportTest, ConfigurationSpaceReadsAtAnyWidth)
{
    uint8_t byte = 0;
    transport.read(VIRTIO_MMIO_CONFIG + 2, { &byte, 1 });
    EXPECT_EQ(byte, 3);
    uint64_t quad = 0;
    transport.read(VIRTIO_MMIO_CONFIG, { reinterpret_cast<uint8_t*>(&quad), 8 });
    EXPECT_EQ(quad, 0x0807060504030201u);
    uint32_t past = 0xffffffff;
    transport.read(VIRTIO_MMIO_CONFIG + 6, { reinterpret_cast<uint8_t*>(&past), 4 });
    EXPECT_EQ(past, 0x0807u) << "bytes past the configuration read as zero";
}

TEST_F(TransportTest, NotificationServesTheQueueAndInterruptsUntilAcknowledged)
{
    ASSERT_EQ(initialise_with(feature::version_1), all_status);
    transport.process_queues(); // DRIVER_OK kicked; nothing is available yet.
    EXPECT_EQ(*interrupts, 0);
    driver.set_descriptor(0, 0x20000, 64, descriptor_flag::write);
    driver.make_available(0);
    write_register(transport, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    transport.handle_notify_event();
    EXPECT_EQ(device->served, 1);
    EXPECT_EQ(driver.used_index(), 1);
    EXPECT_EQ(driver.used_element(0).length, 64u);
    EXPECT_EQ(*interrupts, 1);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_INTERRUPT_STATUS), interrupt::used_buffer);
    write_register(transport, VIRTIO_MMIO_INTERRUPT_ACK, interrupt::used_buffer);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_INTERRUPT_STATUS), 0u);
}

TEST_F(TransportTest, NothingIsServedBeforeDriverOk)
{
    driver.set_descriptor(0, 0x20000, 64, descriptor_flag::write);
    driver.make_available(0);
    transport.process_queues();
    EXPECT_EQ(device->served, 0);
}

TEST_F(TransportTest, CorruptRingNeedsResetAndRaisesConfigurationInterrupt)
{
    ASSERT_EQ(initialise_with(feature::version_1), all_status);
    driver.publish_available_index(100);
    transport.process_queues();
    EXPECT_TRUE(read_register(transport, VIRTIO_MMIO_STATUS) & status::device_needs_reset);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_INTERRUPT_STATUS), interrupt::configuration_change);
    // Until the driver resets the device, nothing more is served.
    driver.publish_available_index(1);
    transport.process_queues();
    EXPECT_EQ(device->served, 0);
    // After a reset the device works again.
    QueueDriver fresh(memory, 0x4000, 16);
    QueueDriver const* queues[] = { &fresh };
    ASSERT_EQ(initialise(transport, feature::version_1, queues), all_status);
    fresh.set_descriptor(0, 0x20000, 8, descriptor_flag::write);
    fresh.make_available(0);
    transport.process_queues();
    EXPECT_EQ(device->served, 1);
}

TEST_F(TransportTest, EventIndexDriverGetsOneInterruptPerRequestedEvent)
{
    ASSERT_EQ(initialise_with(feature::version_1 | feature::ring_event_index), all_status);
    driver.set_descriptor(0, 0x20000, 8, descriptor_flag::write);
    driver.set_used_event(5); // Interrupt only once the 6th element is used.
    for (int round = 0; round < 6; ++round) {
        driver.make_available(0);
        transport.process_queues();
    }
    EXPECT_EQ(*interrupts, 1);
    EXPECT_EQ(driver.available_event(), 6);
}

}

TEST_F(TransportTest, QueueRegistersAreFrozenAfterDriverOk)
{
    ASSERT_EQ(initialise_with(feature::version_1), all_status);
    uint64_t const descriptors = read_register(transport, VIRTIO_MMIO_QUEUE_DESC_LOW);
    // Moving the rings while the I/O thread may use them is ignored, ready or not.
    for (uint32_t ready : { 1u, 0u }) {
        write_register(transport, VIRTIO_MMIO_QUEUE_READY, ready);
        write_register(transport, VIRTIO_MMIO_QUEUE_NUM, 8);
        write_register(transport, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x8000);
        write_register(transport, VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x9000);
        write_register(transport, VIRTIO_MMIO_QUEUE_USED_LOW, 0xa000);
        write_register(transport, VIRTIO_MMIO_QUEUE_DESC_HIGH, 1);
        EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_NUM), 16u);
        EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_DESC_LOW), descriptors);
        EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_DESC_HIGH), 0u);
        EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_AVAIL_LOW), driver.available());
        EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_USED_LOW), driver.used());
    }
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_READY), 0u) << "QueueReady=0 is still honoured";
    write_register(transport, VIRTIO_MMIO_QUEUE_READY, 1);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_READY), 0u) << "but the queue cannot be enabled again before a reset";
    driver.set_descriptor(0, 0x10000, 64, descriptor_flag::write);
    driver.make_available(0);
    transport.process_queues();
    EXPECT_EQ(device->served, 0) << "a disabled queue is not served";

    // After a reset the driver sets the queue up anew.
    QueueDriver moved(memory, 0x20000, 8);
    QueueDriver const* queues[] = { &moved };
    ASSERT_EQ(initialise(transport, feature::version_1, queues), all_status);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_DESC_LOW), 0x20000u);
    EXPECT_EQ(read_register(transport, VIRTIO_MMIO_QUEUE_READY), 1u);
}

TEST_F(TransportTest, RepeatedGuestMistakesAreRateLimited)
{
    // Each refused FEATURES_OK would log a warning; a guest looping on it gets only the first few.
    auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
    auto const previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("rate-limit-test", sink));
    for (int attempt = 0; attempt < 100; ++attempt) {
        write_register(transport, VIRTIO_MMIO_STATUS, 0);
        write_register(transport, VIRTIO_MMIO_STATUS, status::acknowledge | status::driver);
        write_register(transport, VIRTIO_MMIO_STATUS, status::acknowledge | status::driver | status::features_ok);
    }
    spdlog::set_default_logger(previous);
    auto const messages = sink->last_formatted();
    size_t refusals = 0;
    for (auto const& message : messages)
        refusals += message.find("not a modern subset") != std::string::npos;
    EXPECT_GE(refusals, 1u);
    EXPECT_LE(refusals, 10u) << "100 refusals, " << refusals << " messages";
}
