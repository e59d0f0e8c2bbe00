// The 8250 UART as Linux's serial8250 driver sees it.
#include "vmm/devices/Serial8250.h"

#include "common/FileDescriptor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <memory>
#include <string>
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

// Output flow control: with a small pipe and buffer, the UART drops CTS once
// the output is backed up, reports the change in MSR (and IIR, as a modem
// status interrupt), and raises CTS again once the host has read.
TEST(SerialFlowControl, CtsFollowsTheOutputAndNothingIsDropped)
{
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    FileDescriptor read_end(fds[0]);
    FileDescriptor write_end(fds[1]);
    int const pipe_size = fcntl(write_end.get(), F_SETPIPE_SZ, 4096);
    ASSERT_GE(pipe_size, 4096);
    constexpr size_t buffer_limit = 4096;
    auto output = std::make_shared<ConsoleOutput>(write_end.get(), buffer_limit);
    std::vector<bool> levels;
    auto serial = std::make_shared<Serial8250>([&](bool level) { levels.push_back(level); }, output);
    output->set_resumed_callback([serial] { serial->output_resumed(); });
    auto out = [&](uint64_t offset, uint8_t value) { serial->write(offset, { &value, 1 }); };
    auto in = [&](uint64_t offset) {
        uint8_t value = 0;
        serial->read(offset, { &value, 1 });
        return value;
    };
    out(4, 0x0b); // DTR, RTS, OUT2.
    out(1, 0x08); // IER: modem status interrupts only, as Linux's driver with CRTSCTS.
    EXPECT_EQ(in(6), 0xb0) << "DCD, DSR and CTS; no change";
    EXPECT_TRUE(levels.empty());

    // The pipe takes its size at once; the buffer's first quarter more keeps CTS up.
    size_t sent = 0;
    auto send = [&](size_t count) {
        for (size_t index = 0; index < count; ++index, ++sent)
            out(0, static_cast<uint8_t>(sent));
    };
    send(static_cast<size_t>(pipe_size) + buffer_limit / 4 - 1);
    EXPECT_EQ(in(6) & 0x11, 0x10) << "CTS still up";
    EXPECT_TRUE(levels.empty());
    send(1);
    ASSERT_EQ(levels, std::vector<bool>({ true })) << "a modem status interrupt for the change";
    EXPECT_EQ(in(2) & 0x0f, 0x00) << "IIR: pending, modem status";
    EXPECT_EQ(in(6) & 0x11, 0x01) << "CTS down, DCTS set";
    EXPECT_EQ(levels.back(), false) << "reading MSR acknowledged it";
    EXPECT_EQ(in(6) & 0x11, 0x00) << "DCTS reads once";

    // The host reads: the I/O thread's flush empties the buffer, CTS rises.
    std::string received;
    char chunk[8192];
    ssize_t got;
    while ((got = ::read(read_end.get(), chunk, sizeof(chunk))) > 0)
        received.append(chunk, static_cast<size_t>(got));
    output->flush();
    EXPECT_FALSE(output->is_backed_up());
    EXPECT_EQ(levels.back(), true) << "a modem status interrupt for CTS rising";
    EXPECT_EQ(in(6) & 0x11, 0x11) << "CTS up, DCTS set";
    EXPECT_EQ(levels.back(), false);
    while ((got = ::read(read_end.get(), chunk, sizeof(chunk))) > 0)
        received.append(chunk, static_cast<size_t>(got));
    ASSERT_EQ(received.size(), sent);
    for (size_t index = 0; index < sent; ++index)
        ASSERT_EQ(static_cast<uint8_t>(received[index]), static_cast<uint8_t>(index)) << "byte " << index;
    EXPECT_EQ(output->dropped_bytes(), 0u);
}

TEST(SerialFlowControl, ModemStatusInterruptsWaitForTheirEnableBit)
{
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    FileDescriptor read_end(fds[0]);
    FileDescriptor write_end(fds[1]);
    ASSERT_GE(fcntl(write_end.get(), F_SETPIPE_SZ, 4096), 4096);
    auto output = std::make_shared<ConsoleOutput>(write_end.get(), 4096);
    output->set_resumed_callback([] { });
    std::vector<bool> levels;
    Serial8250 serial([&](bool level) { levels.push_back(level); }, output);
    uint8_t const mcr = 0x0b;
    serial.write(4, { &mcr, 1 });
    std::vector<uint8_t> const byte { 'x' };
    for (int index = 0; index < 4096 + 1024; ++index)
        serial.write(0, byte);
    uint8_t status = 0;
    serial.read(6, { &status, 1 });
    EXPECT_EQ(status & 0x11, 0x01) << "CTS down, DCTS set";
    EXPECT_TRUE(levels.empty()) << "no interrupt without IER's modem status bit";
}
