// The 8250 UART as Linux's serial8250 driver sees it.
#include "vmm/devices/Serial8250.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <vector>

using namespace vmm;

namespace {

class SerialTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_EQ(pipe2(m_pipe, O_NONBLOCK | O_CLOEXEC), 0);
        m_serial = std::make_unique<Serial8250>([this](bool level) { m_levels.push_back(level); }, std::make_shared<ConsoleOutput>(m_pipe[1]));
        out(4, 0x0b); // MCR: DTR, RTS and OUT2, as Linux's driver sets them (OUT2 routes the interrupt).
    }
    void TearDown() override
    {
        close(m_pipe[0]);
        close(m_pipe[1]);
    }
    uint8_t in(uint64_t offset)
    {
        uint8_t value = 0;
        m_serial->read(offset, { &value, 1 });
        return value;
    }
    void out(uint64_t offset, uint8_t value) { m_serial->write(offset, { &value, 1 }); }
    std::string transmitted()
    {
        char buffer[256];
        ssize_t got = read(m_pipe[0], buffer, sizeof(buffer));
        return got > 0 ? std::string(buffer, static_cast<size_t>(got)) : "";
    }

    int m_pipe[2];
    std::vector<bool> m_levels;
    std::unique_ptr<Serial8250> m_serial;
};

}

TEST_F(SerialTest, IdleLineStatusSaysTransmitterEmpty)
{
    // Cloud Hypervisor #163: an LSR of 0 when idle made boots take 15 s.
    EXPECT_EQ(in(5), 0x60);
    EXPECT_EQ(in(2) & 0x0f, 0x01) << "no interrupt pending";
    EXPECT_TRUE(m_levels.empty());
}

TEST_F(SerialTest, WritesReachTheOutputAndRaiseTransmitterEmpty)
{
    out(1, 0x02); // IER: THRE interrupt.
    ASSERT_EQ(m_levels, std::vector<bool>({ true })) << "enabling THRE with an empty transmitter interrupts at once";
    EXPECT_EQ(in(2) & 0x0f, 0x02) << "IIR names THRE";
    EXPECT_EQ(m_levels.back(), false) << "reading IIR acknowledged it";
    EXPECT_EQ(in(2) & 0x0f, 0x01);

    out(0, 'o');
    out(0, 'k');
    EXPECT_EQ(transmitted(), "ok");
    EXPECT_EQ(m_levels.back(), true) << "each transmitted byte raises THRE again";
    EXPECT_EQ(in(2) & 0x0f, 0x02);
    EXPECT_EQ(m_levels.back(), false);
}

TEST_F(SerialTest, ReceivedBytesSetDataReadyAndInterrupt)
{
    uint8_t const input[] = { 'l', 's', '\n' };
    m_serial->queue_input(input);
    EXPECT_TRUE(m_levels.empty()) << "no interrupt while IER masks it";
    EXPECT_EQ(in(5) & 0x01, 0x00) << "input waits until the driver is ready";
    out(2, 0x07); // FCR: the driver resets its FIFOs at start-up...
    out(1, 0x01); // ...then enables the received-data interrupt.
    EXPECT_EQ(in(5) & 0x01, 0x01) << "LSR data ready";
    EXPECT_EQ(m_levels, std::vector<bool>({ true }));
    EXPECT_EQ(in(2) & 0x0f, 0x04);
    EXPECT_EQ(in(0), 'l');
    EXPECT_EQ(in(0), 's');
    EXPECT_EQ(in(0), '\n');
    EXPECT_EQ(in(5) & 0x01, 0x00);
    EXPECT_EQ(m_levels.back(), false) << "the line drops once the FIFO is empty";
}

TEST_F(SerialTest, InterruptNeedsOut2AndInputWaitsForIt)
{
    out(4, 0x00); // OUT2 off: the UART's interrupt is cut from the IRQ line.
    out(1, 0x03);
    EXPECT_TRUE(m_levels.empty());
    uint8_t const input[] = { 'a' };
    m_serial->queue_input(input);
    EXPECT_EQ(in(5) & 0x01, 0x00) << "a driver probing with OUT2 off does not get the input";
    out(4, 0x0b);
    EXPECT_EQ(m_levels, std::vector<bool>({ true }));
    EXPECT_EQ(in(0), 'a');
}

TEST_F(SerialTest, InputWaitsWhileTheGuestHoldsRtsLow)
{
    int taken = 0;
    m_serial->set_input_taken_callback([&] { ++taken; });
    out(1, 0x01);
    out(4, 0x09); // RTS low: a tty with CRTSCTS whose buffer is full.
    uint8_t const input[] = { 'a', 'b' };
    m_serial->queue_input(input);
    EXPECT_EQ(in(5) & 0x01, 0x00) << "nothing is sent while RTS is low";
    EXPECT_EQ(m_serial->pending_input(), 2u);
    EXPECT_EQ(taken, 0);
    out(4, 0x0b); // RTS high again: the driver unthrottled.
    EXPECT_EQ(m_serial->pending_input(), 0u);
    EXPECT_EQ(taken, 1) << "the host is told it may send more";
    EXPECT_EQ(in(0), 'a');
    EXPECT_EQ(in(0), 'b');
}

TEST_F(SerialTest, DivisorLatchAndScratchRegisters)
{
    out(3, 0x80); // DLAB.
    out(0, 0x01);
    out(1, 0x00);
    EXPECT_EQ(in(0), 0x01);
    out(3, 0x03);
    EXPECT_EQ(transmitted(), "") << "divisor writes are not data";
    out(7, 0x5a);
    EXPECT_EQ(in(7), 0x5a);
}

TEST_F(SerialTest, LoopbackEchoesAndFifoClearDropsInput)
{
    out(4, 0x10); // MCR loopback.
    out(0, 'x');
    EXPECT_EQ(transmitted(), "");
    EXPECT_EQ(in(5) & 0x01, 0x01) << "looped-back bytes go straight to the FIFO";
    out(2, 0x03); // FCR: enable and clear the receive FIFO.
    EXPECT_EQ(in(5) & 0x01, 0x00);
    EXPECT_EQ(in(2) & 0xc0, 0xc0) << "IIR reports the FIFO enabled";
}
