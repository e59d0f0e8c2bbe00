// Console output never blocks: a bounded buffer behind a non-blocking file
// description, dropped bytes counted, a drain at exit that gives up on a
// stalled reader. And the rate limit on guest-triggered log messages.
#include "vmm/devices/ConsoleOutput.h"
#include "vmm/devices/RateLimitedLog.h"

#include <chrono>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <optional>
#include <csignal>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace vmm;
using namespace std::chrono_literals;

namespace {

// A pipe whose write end is blocking, as a shell's pipeline gives vmm.
struct Pipe {
    Pipe()
    {
        int fds[2];
        EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
        read_end = FileDescriptor(fds[0]);
        write_end = FileDescriptor(fds[1]);
        capacity = static_cast<size_t>(fcntl(write_end.get(), F_GETPIPE_SZ));
    }
    std::string read_available()
    {
        std::string text;
        int const flags = fcntl(read_end.get(), F_GETFL);
        fcntl(read_end.get(), F_SETFL, flags | O_NONBLOCK);
        char buffer[65536];
        ssize_t got;
        while ((got = ::read(read_end.get(), buffer, sizeof(buffer))) > 0)
            text.append(buffer, static_cast<size_t>(got));
        fcntl(read_end.get(), F_SETFL, flags);
        return text;
    }
    FileDescriptor read_end;
    FileDescriptor write_end;
    size_t capacity { 0 };
};

std::vector<uint8_t> bytes_of(size_t size, uint8_t value)
{
    return std::vector<uint8_t>(size, value);
}

}

TEST(ConsoleOutput, WritesPassStraightThrough)
{
    Pipe pipe;
    ConsoleOutput output(pipe.write_end.get());
    std::string const text = "hello\n";
    output.write({ reinterpret_cast<uint8_t const*>(text.data()), text.size() });
    EXPECT_EQ(pipe.read_available(), text);
    EXPECT_EQ(output.buffered(), 0u);
    EXPECT_EQ(output.dropped_bytes(), 0u);
}

TEST(ConsoleOutput, AFullPipeNeitherBlocksNorChangesTheSharedDescriptor)
{
    Pipe pipe;
    ConsoleOutput output(pipe.write_end.get(), 4096);
    auto const start = std::chrono::steady_clock::now();
    output.write(bytes_of(pipe.capacity, 'a'));
    output.write(bytes_of(1000, 'b'));
    output.write(bytes_of(5000, 'c'));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s) << "a write never waits for the reader";
    EXPECT_EQ(output.buffered(), 4096u) << "the buffer holds up to its limit";
    EXPECT_EQ(output.dropped_bytes(), 1000u + 5000u - 4096u);
    EXPECT_FALSE(fcntl(pipe.write_end.get(), F_GETFL) & O_NONBLOCK) << "vmm's stdout, shared with its shell, stays blocking";
    EXPECT_GE(output.pollable_fd(), 0);
    EXPECT_NE(output.pollable_fd(), pipe.write_end.get());

    // Once the reader catches up, a flush sends what was held back, in order.
    auto const first = pipe.read_available();
    EXPECT_EQ(first, std::string(pipe.capacity, 'a'));
    output.flush();
    EXPECT_EQ(pipe.read_available(), std::string(1000, 'b') + std::string(3096, 'c'));
    EXPECT_EQ(output.buffered(), 0u);
}

TEST(ConsoleOutput, DrainWaitsForAReaderThatReads)
{
    Pipe pipe;
    std::optional<ConsoleOutput> output(std::in_place, pipe.write_end.get());
    output->write(bytes_of(pipe.capacity + 100000, 'x'));
    size_t received = 0;
    std::thread reader([&] {
        char buffer[4096];
        ssize_t got;
        // Slowly, but never stalling for long.
        while ((got = ::read(pipe.read_end.get(), buffer, sizeof(buffer))) > 0) {
            received += static_cast<size_t>(got);
            std::this_thread::sleep_for(1ms);
        }
    });
    EXPECT_TRUE(output->drain(500ms));
    EXPECT_EQ(output->dropped_bytes(), 0u);
    // The reader sees the end once no write end is left, ours included.
    output.reset();
    pipe.write_end.reset();
    reader.join();
    EXPECT_EQ(received, pipe.capacity + 100000);
}

TEST(ConsoleOutput, DrainGivesUpOnAStalledReader)
{
    Pipe pipe;
    ConsoleOutput output(pipe.write_end.get());
    output.write(bytes_of(pipe.capacity + 1234, 'x'));
    auto const start = std::chrono::steady_clock::now();
    EXPECT_FALSE(output.drain(200ms));
    auto const took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 200ms);
    EXPECT_LT(took, 1s);
    EXPECT_EQ(output.dropped_bytes(), 1234u);
    EXPECT_EQ(output.buffered(), 0u);
}

TEST(ConsoleOutput, AClosedReaderDropsOutputWithoutFailing)
{
    Pipe pipe;
    ConsoleOutput output(pipe.write_end.get());
    pipe.read_end.reset();
    signal(SIGPIPE, SIG_IGN);
    output.write(bytes_of(100, 'x'));
    output.write(bytes_of(50, 'y'));
    EXPECT_EQ(output.dropped_bytes(), 150u);
    EXPECT_TRUE(output.drain(100ms));
}

TEST(ConsoleOutput, ASocketIsWrittenWithoutBlocking)
{
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    FileDescriptor reader(fds[0]);
    FileDescriptor writer(fds[1]);
    ConsoleOutput output(writer.get(), 1000);
    for (int round = 0; round < 1000; ++round)
        output.write(bytes_of(4096, 'z'));
    EXPECT_EQ(output.buffered(), 1000u);
    EXPECT_GT(output.dropped_bytes(), 0u);
}

TEST(RateLimitedLog, LetsABurstThroughThenCountsTheRest)
{
    auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100);
    auto const previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("rate-limit-test", sink));
    spdlog::set_pattern("%v");

    RateLimitedLog log(3, 50ms);
    for (int index = 0; index < 10; ++index)
        log.warn("mistake {}", index);
    EXPECT_EQ(log.suppressed_total(), 7u);
    std::this_thread::sleep_for(60ms);
    log.warn("mistake {}", 10);

    spdlog::set_default_logger(previous);
    auto const messages = sink->last_formatted();
    ASSERT_EQ(messages.size(), 4u);
    EXPECT_NE(messages[0].find("mistake 0"), std::string::npos);
    EXPECT_NE(messages[2].find("mistake 2"), std::string::npos);
    EXPECT_NE(messages[3].find("mistake 10 (7 similar messages suppressed)"), std::string::npos) << messages[3];
}

TEST(ConsoleOutput, BackedUpFromAQuarterOfTheBufferUntilASixteenth)
{
    Pipe pipe;
    ConsoleOutput output(pipe.write_end.get(), 128 * 1024);
    int resumed = 0;
    output.set_resumed_callback([&] { ++resumed; });
    output.write(bytes_of(pipe.capacity, 'a'));
    output.write(bytes_of(32 * 1024 - 1, 'b'));
    EXPECT_FALSE(output.is_backed_up()) << "just under a quarter of the buffer";
    output.write(bytes_of(1, 'b'));
    EXPECT_TRUE(output.is_backed_up());
    output.notify_if_resumed();
    EXPECT_EQ(resumed, 0);

    // The reader takes the pipe's worth; the flush leaves 8 KiB and one byte: still backed up.
    std::string received = pipe.read_available();
    output.write(bytes_of(pipe.capacity - 24 * 1024 + 1, 'c'));
    output.flush();
    EXPECT_EQ(output.buffered(), 8u * 1024 + 1);
    EXPECT_TRUE(output.is_backed_up()) << "above a sixteenth";
    EXPECT_EQ(resumed, 0);
    received += pipe.read_available();
    output.flush();
    EXPECT_FALSE(output.is_backed_up());
    EXPECT_EQ(resumed, 1) << "the flush that ended the spell reports it";
    output.flush();
    output.notify_if_resumed();
    EXPECT_EQ(resumed, 1) << "once";
    received += pipe.read_available();
    EXPECT_EQ(received.size(), 2 * pipe.capacity + 8 * 1024 + 1);
    EXPECT_EQ(output.dropped_bytes(), 0u);
}

TEST(ConsoleOutput, AWriteThatEndsTheSpellLeavesTheReportToItsCaller)
{
    Pipe pipe;
    ConsoleOutput output(pipe.write_end.get(), 64 * 1024);
    int resumed = 0;
    output.set_resumed_callback([&] { ++resumed; });
    output.write(bytes_of(pipe.capacity + 16 * 1024, 'a'));
    ASSERT_TRUE(output.is_backed_up());
    pipe.read_available();
    // A write with output waiting flushes first: it ends the spell, but the
    // writer (the 8250, with its own lock held) must not be called back.
    output.write(bytes_of(1, 'b'));
    EXPECT_FALSE(output.is_backed_up());
    EXPECT_EQ(resumed, 0);
    output.notify_if_resumed();
    EXPECT_EQ(resumed, 1);
}

TEST(ConsoleOutput, NeverBackedUpWithoutSomeoneToSayWhenToGoOn)
{
    // Where stdout cannot be watched, no flush would end a spell: writers are never held.
    Pipe pipe;
    ConsoleOutput output(pipe.write_end.get(), 64 * 1024);
    output.write(bytes_of(pipe.capacity + 32 * 1024, 'a'));
    EXPECT_EQ(output.buffered(), 32u * 1024);
    EXPECT_FALSE(output.is_backed_up());
}
