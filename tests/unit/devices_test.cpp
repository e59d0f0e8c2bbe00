// The bus, the i8042 reset, the guest reporter ports and the CMOS clock.
#include "common/Error.h"
#include "vmm/devices/Bus.h"
#include "vmm/devices/CmosRtc.h"
#include "vmm/devices/GuestReporter.h"
#include "vmm/devices/I8042.h"
#include "guest/protocol.h"

#include <gtest/gtest.h>

using namespace vmm;

namespace {

class Recorder final : public Device {
public:
    std::string name() const override { return "recorder"; }
    void read(uint64_t offset, std::span<uint8_t> data) override
    {
        for (auto& byte : data)
            byte = static_cast<uint8_t>(offset);
    }
    void write(uint64_t offset, std::span<uint8_t const> data) override { m_writes.push_back({ offset, data[0] }); }
    std::vector<std::pair<uint64_t, uint8_t>> m_writes;
};

}

TEST(Bus, DispatchesWithOffsetsAndRejectsOverlaps)
{
    Bus bus;
    auto recorder = std::make_shared<Recorder>();
    bus.add(0x3f8, 8, recorder);
    uint8_t value = 0;
    EXPECT_TRUE(bus.read(0x3fd, { &value, 1 }));
    EXPECT_EQ(value, 5);
    uint8_t const written = 0x41;
    EXPECT_TRUE(bus.write(0x3f8, { &written, 1 }));
    ASSERT_EQ(recorder->m_writes.size(), 1u);
    EXPECT_EQ(recorder->m_writes[0].first, 0u);

    EXPECT_FALSE(bus.read(0x400, { &value, 1 }));
    EXPECT_EQ(value, 0xff) << "an unclaimed read sees all ones";
    EXPECT_FALSE(bus.read(0x3f7, { &value, 1 }));
    EXPECT_THROW(bus.add(0x3f0, 9, recorder), Error);
    EXPECT_THROW(bus.add(0x3ff, 1, recorder), Error);
    EXPECT_NO_THROW(bus.add(0x400, 1, recorder));
}

TEST(I8042, OnlyThePulseResetCommandResets)
{
    int resets = 0;
    I8042 controller([&] { ++resets; });
    uint8_t const other = 0xd1;
    controller.write(4, { &other, 1 });
    uint8_t const reset = 0xfe;
    controller.write(0, { &reset, 1 });
    EXPECT_EQ(resets, 0) << "0xfe on the data port is not a command";
    controller.write(4, { &reset, 1 });
    EXPECT_EQ(resets, 1);
    uint8_t status = 0xff;
    controller.read(4, { &status, 1 });
    EXPECT_EQ(status & 0x03, 0) << "buffers empty, so Linux's reboot=k proceeds";
}

TEST(I8042, AnswersTheProbeOfLinuxsDriver)
{
    I8042 controller([] {});
    auto command = [&](uint8_t value) { controller.write(4, { &value, 1 }); };
    auto status = [&] { uint8_t value = 0; controller.read(4, { &value, 1 }); return value; };
    auto data = [&] { uint8_t value = 0; controller.read(0, { &value, 1 }); return value; };

    command(0x20); // Read the control register.
    EXPECT_EQ(status() & 0x01, 0x01) << "a reply is waiting";
    uint8_t const control = data();
    EXPECT_EQ(status() & 0x01, 0x00);
    command(0x60); // Write the control register.
    uint8_t const updated = control & ~0x01;
    controller.write(0, { &updated, 1 });
    command(0x20);
    EXPECT_EQ(data(), updated);
    command(0xaa);
    EXPECT_EQ(data(), 0x55) << "self test passed";
    command(0xab);
    EXPECT_EQ(data(), 0x00) << "keyboard interface test passed";
}

TEST(GuestReporter, ExitStatusAndBootMarkerPorts)
{
    int status = -1;
    int markers = 0;
    GuestReporter reporter([&](uint8_t value) { status = value; }, [&] { ++markers; });
    uint8_t const marker = 1;
    reporter.write(VMM_BOOT_MARKER_PORT - VMM_EXIT_STATUS_PORT, { &marker, 1 });
    EXPECT_EQ(markers, 1);
    EXPECT_EQ(status, -1);
    uint8_t const exit_status = 7;
    reporter.write(0, { &exit_status, 1 });
    EXPECT_EQ(status, 7);
}

TEST(CmosRtc, ReadsHostTimeInBcd)
{
    long const moment = 1795000000; // 2026-11-18 11:06:40 UTC.
    EXPECT_EQ(CmosRtc::register_value(0x00, moment), 0x40);
    EXPECT_EQ(CmosRtc::register_value(0x02, moment), 0x06);
    EXPECT_EQ(CmosRtc::register_value(0x04, moment), 0x11);
    EXPECT_EQ(CmosRtc::register_value(0x07, moment), 0x18);
    EXPECT_EQ(CmosRtc::register_value(0x08, moment), 0x11);
    EXPECT_EQ(CmosRtc::register_value(0x09, moment), 0x26);
    EXPECT_EQ(CmosRtc::register_value(0x32, moment), 0x20);
    EXPECT_EQ(CmosRtc::register_value(0x0a, moment) & 0x80, 0) << "no update in progress, or Linux would spin";

    CmosRtc rtc;
    uint8_t const index = 0x8b; // Register B with the NMI-disable bit.
    rtc.write(0, { &index, 1 });
    uint8_t value = 0;
    rtc.read(1, { &value, 1 });
    EXPECT_EQ(value, 0x02);
}
