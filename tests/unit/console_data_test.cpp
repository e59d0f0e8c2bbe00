// Piped input through a guest console: the escaping vmm applies
// (ConsoleDataEncoder) and the terminal settings guest/init gives the
// console (vmm_console_data_input) are checked together on a real
// pseudo-terminal, whose line discipline is the one the guest's console has:
// the reader must get every byte as given, then end of file.
#include "guest/protocol.h"
#include "vmm/devices/ConsoleDataEncoder.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <string>
#include <termios.h>
#include <thread>
#include <unistd.h>

using vmm::ConsoleDataEncoder;

namespace {

// What a reader of the terminal's slave side gets when `data` is written,
// encoded, to its master side; "<no end of file>" when the input never ends.
std::string through_terminal(std::string const& data, size_t piece_size = 100)
{
    int master = -1;
    int slave = -1;
    if (openpty(&master, &slave, nullptr, nullptr, nullptr) != 0)
        return "<openpty failed>";
    termios settings {};
    tcgetattr(slave, &settings);
    vmm_console_data_input(&settings);
    vmm_console_data_output(&settings);
    tcsetattr(slave, TCSANOW, &settings);

    // The writer runs beside the reader: the line discipline holds only 4 KiB.
    std::thread writer([&] {
        ConsoleDataEncoder encoder;
        std::vector<uint8_t> encoded;
        for (size_t offset = 0; offset < data.size(); offset += piece_size) {
            auto const piece = std::string_view(data).substr(offset, piece_size);
            encoder.encode({ reinterpret_cast<uint8_t const*>(piece.data()), piece.size() }, encoded);
        }
        encoder.finish(encoded);
        size_t written = 0;
        while (written < encoded.size()) {
            ssize_t const result = ::write(master, encoded.data() + written, encoded.size() - written);
            if (result <= 0)
                return;
            written += static_cast<size_t>(result);
        }
    });
    std::string received;
    bool ended = false;
    for (;;) {
        pollfd ready { slave, POLLIN, 0 };
        if (poll(&ready, 1, 5000) != 1)
            break;
        char buffer[8192];
        ssize_t const length = ::read(slave, buffer, sizeof(buffer));
        if (length == 0) {
            ended = true;
            break;
        }
        if (length < 0)
            break;
        received.append(buffer, static_cast<size_t>(length));
    }
    close(slave); // Unblocks a writer that is still waiting.
    writer.join();
    close(master);
    return ended ? received : received + "<no end of file>";
}

TEST(ConsoleData, LinesArriveAsGivenThenEndOfFile)
{
    EXPECT_EQ(through_terminal("a\nb\n"), "a\nb\n");
    EXPECT_EQ(through_terminal(""), "");
}

TEST(ConsoleData, ALastLineWithoutNewlineIsNotLost)
{
    EXPECT_EQ(through_terminal("a\nlast"), "a\nlast");
}

TEST(ConsoleData, EveryByteValueArrivesUnchanged)
{
    // Control characters a terminal acts on: NUL, Ctrl-C, Ctrl-D, Ctrl-S,
    // Ctrl-Q, Ctrl-U, Ctrl-V, Ctrl-W, Ctrl-Z, DEL, and CR that ICRNL would turn into NL.
    std::string all;
    for (int value = 0; value < 256; ++value)
        all += static_cast<char>(value);
    all += std::string("\r\n\x04\n\x16\x04\0\n", 8);
    EXPECT_EQ(through_terminal(all), all);
}

TEST(ConsoleData, LinesLongerThanTheLineDisciplineHoldsArriveWhole)
{
    // The line discipline keeps at most 4095 bytes of one line.
    std::string long_lines(10000, 'x');
    long_lines += "\n" + std::string(5000, 'y');
    EXPECT_EQ(through_terminal(long_lines, 777), long_lines);
}

TEST(ConsoleData, ManyLinesArriveWhileTheReaderKeepsUp)
{
    std::string text;
    for (int line = 0; line < 20000; ++line)
        text += "line " + std::to_string(line) + "\n";
    EXPECT_EQ(through_terminal(text, 4096), text);
}

TEST(ConsoleData, EncoderMarksOnlyWhatIsSpecial)
{
    ConsoleDataEncoder encoder;
    std::vector<uint8_t> encoded;
    std::string const data("a\x04" "b\x16" "c", 5);
    encoder.encode({ reinterpret_cast<uint8_t const*>(data.data()), data.size() }, encoded);
    encoder.finish(encoded);
    std::vector<uint8_t> const expected { 'a', 0x16, 0x04, 'b', 0x16, 0x16, 'c', 0x04, 0x04 };
    EXPECT_EQ(encoded, expected);
    EXPECT_LE(encoded.size(), ConsoleDataEncoder::encoded_size_limit(data.size()) + 2);
}

TEST(ConsoleData, DataOutputIsUnprocessedAndFlowControlled)
{
    termios settings {};
    settings.c_oflag = OPOST | ONLCR;
    vmm_console_data_output(&settings);
    EXPECT_EQ(settings.c_oflag & OPOST, 0u) << "bytes go out as written";
    EXPECT_NE(settings.c_cflag & CRTSCTS, 0u) << "the 8250 driver waits while vmm's UART holds CTS down";
}

}
