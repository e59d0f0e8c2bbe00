// The container terminal's relay between two ptys, as a person's terminal
// and a container's: first the relay alone (relay_container_terminal in a
// child of the test, the "container" a host shell on the other pty), then
// `vmm --container -t` itself. Input and output flowing at once, "\n"
// arriving as "\r\n", a stdout whose reader is gone, and a relay stopped
// and continued while its shell set the terminal back to cooked mode.
// Every wait has a deadline, so that a hang fails the test.

#include "container/ContainerTerminal.h"
#include "tests/container/ContainerTestSupport.h"

#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <termios.h>

#include <functional>
#include <random>
#include <thread>

using namespace container_test;
using namespace std::chrono_literals;

namespace {

struct PtyPair {
    int master { -1 };
    int slave { -1 };
    PtyPair() { EXPECT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0) << std::strerror(errno); }
    ~PtyPair()
    {
        close_slave();
        close_master();
    }
    void close_slave() { ::close(std::exchange(slave, -1)); }
    void close_master() { ::close(std::exchange(master, -1)); }
};

// A child that is ended and reaped if the test did not wait for it: vmm
// with SIGTERM, so that it removes what it set up, the others with SIGKILL.
struct Child {
    pid_t pid { -1 };
    int ending_signal { SIGKILL };
    ~Child()
    {
        if (pid <= 0)
            return;
        ::kill(pid, ending_signal);
        ::kill(pid, SIGCONT);
        vmm::testing::wait_or_kill(std::exchange(pid, -1), 5s);
    }
    // Its exit status (128 + signal), or -1 once it ran past `limit` and was killed.
    int wait(std::chrono::milliseconds limit) { return vmm::testing::wait_or_kill(std::exchange(pid, -1), limit); }
};

// In a forked child: `terminal` becomes its controlling terminal and stdin,
// `output` its stdout (where -1: the terminal, stderr too), and every other
// fd but `keep` (moved to 3) and the test's stderr is closed.
void become_terminal_job(int terminal, int output, int keep = -1)
{
    ::setsid();
    ::ioctl(terminal, TIOCSCTTY, 0);
    ::dup2(terminal, 0);
    ::dup2(output >= 0 ? output : terminal, 1);
    if (output < 0)
        ::dup2(terminal, 2);
    if (keep >= 0)
        ::dup2(keep, 3);
    ::close_range(keep >= 0 ? 4 : 3, ~0U, 0);
}

// The container's side: `sh -c SCRIPT` (the host's) on the slave `terminal`.
pid_t start_shell(int terminal, char const* script)
{
    pid_t const pid = ::fork();
    if (pid == 0) {
        become_terminal_job(terminal, -1);
        ::execl("/bin/sh", "sh", "-c", script, nullptr);
        ::_exit(127);
    }
    return pid;
}

enum class ContinueHandler {
    Installed, // As vmm's signal proxy installs it.
    None,
};

void ignore_signal(int) { }

// relay_container_terminal(master, container) with `terminal` as vmm's
// stdin and `output` (the terminal where -1) as its stdout.
pid_t start_relay(int terminal, int output, int master, pid_t container, ContinueHandler handler = ContinueHandler::Installed)
{
    pid_t const pid = ::fork();
    if (pid == 0) {
        become_terminal_job(terminal, output, master);
        ::signal(SIGPIPE, SIG_IGN); // As while vmm's signal proxy lives.
        if (handler == ContinueHandler::Installed) {
            struct sigaction action {};
            action.sa_handler = ignore_signal;
            action.sa_flags = SA_RESTART;
            ::sigaction(SIGCONT, &action, nullptr);
        }
        try {
            vmm::container::relay_container_terminal(3, container);
        } catch (std::exception const& error) {
            std::fprintf(stderr, "relay: %s\n", error.what());
            ::_exit(1);
        }
        ::_exit(0);
    }
    return pid;
}

// Appends what one read of `fd` gives to `text`: false once it ended (EIO:
// no slave), true otherwise (EAGAIN included).
bool read_more(int fd, std::string& text)
{
    char buffer[65536];
    ssize_t const length = ::read(fd, buffer, sizeof(buffer));
    if (length < 0 && errno == EAGAIN)
        return true;
    if (length <= 0)
        return false;
    text.append(buffer, static_cast<size_t>(length));
    return true;
}

// Reads `fd` until `done` says so, it ends (EIO: no slave) or `limit` passes.
std::string read_until(int fd, std::function<bool(std::string const&)> const& done, std::chrono::milliseconds limit = 5s)
{
    std::string text;
    auto const deadline = std::chrono::steady_clock::now() + limit;
    while (!done(text) && std::chrono::steady_clock::now() < deadline) {
        pollfd readable { fd, POLLIN, 0 };
        if (::poll(&readable, 1, 50) > 0 && !read_more(fd, text))
            break;
    }
    return text;
}

auto contains(std::string needle)
{
    return [needle](std::string const& text) { return text.find(needle) != std::string::npos; };
}

// Writes all of `input` to `fd` while reading what comes back, for up to
// `limit`: a terminal's emulator that types and shows at once.
std::string type_and_read(int fd, std::string const& input, size_t expected, std::chrono::milliseconds limit = 20s)
{
    // Without O_NONBLOCK a write could wait for room while the output it
    // waits for is not read: the test's own deadlock.
    EXPECT_EQ(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    size_t sent = 0;
    std::string output;
    auto const deadline = std::chrono::steady_clock::now() + limit;
    while (output.size() < expected && std::chrono::steady_clock::now() < deadline) {
        pollfd both { fd, static_cast<short>(POLLIN | (sent < input.size() ? POLLOUT : 0)), 0 };
        if (::poll(&both, 1, 50) <= 0)
            continue;
        if (both.revents & POLLOUT) {
            ssize_t const written = ::write(fd, input.data() + sent, std::min<size_t>(input.size() - sent, 4096));
            if (written > 0)
                sent += static_cast<size_t>(written);
        }
        if ((both.revents & (POLLIN | POLLHUP)) && !read_more(fd, output))
            break;
    }
    return output;
}

// Whether keys pass as typed (output processing aside: see the newline tests).
bool is_raw(int terminal)
{
    termios settings {};
    return ::tcgetattr(terminal, &settings) == 0 && !(settings.c_lflag & (ICANON | ECHO | ISIG));
}

bool becomes_raw(int terminal, std::chrono::milliseconds limit = 3s)
{
    auto const deadline = std::chrono::steady_clock::now() + limit;
    while (!is_raw(terminal) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
    return is_raw(terminal);
}

// Letters and spaces, no newline: the same bytes on a raw terminal both ways.
std::string letters(size_t size)
{
    std::mt19937 random(7);
    std::string text(size, ' ');
    for (auto& character : text)
        character = "abcdefghijklmnopqrstuvwxyz "[random() % 27];
    return text;
}

// What `yes | head -c SIZE` prints.
std::string repeated_y(size_t size)
{
    std::string text;
    while (text.size() < size)
        text += "y\n";
    return text.substr(0, size);
}

// Stops `pid`, puts `cooked` on the terminal as a shell does meanwhile, and continues it.
void stop_and_continue(pid_t pid, int terminal, termios const& cooked)
{
    ASSERT_EQ(::kill(pid, SIGSTOP), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, WUNTRACED), pid);
    ASSERT_TRUE(WIFSTOPPED(status));
    ASSERT_EQ(::tcsetattr(terminal, TCSANOW, &cooked), 0);
    ASSERT_EQ(::kill(pid, SIGCONT), 0);
}

// The container prints a lot before it reads: meanwhile the relay must go on
// taking its output although its input waits (what a `cat` of a paste, or
// a build's log while keys are typed, needs).
std::string const output_first = "yes | head -c 1000000; exec cat";

TEST(ContainerTerminalRelay, InputAndOutputFlowAtOnce)
{
    PtyPair host, container;
    termios raw {};
    ASSERT_EQ(::tcgetattr(container.slave, &raw), 0);
    ::cfmakeraw(&raw);
    ASSERT_EQ(::tcsetattr(container.slave, TCSANOW, &raw), 0);
    Child shell { start_shell(container.slave, output_first.c_str()) };
    container.close_slave();
    Child relay { start_relay(host.slave, -1, container.master, shell.pid) };
    host.close_slave();
    container.close_master();
    ASSERT_TRUE(becomes_raw(host.master));

    // Far more than the ptys and the relay hold.
    auto const input = letters(1 << 20);
    auto const expected = repeated_y(1000000) + input;
    auto const output = type_and_read(host.master, input, expected.size());
    EXPECT_EQ(output.size(), expected.size()) << "the relay stopped moving";
    EXPECT_TRUE(output == expected) << "the bytes changed on their way";
}

TEST(ContainerTerminalRelay, NewlineReachesTheHostAsOneCarriageReturn)
{
    PtyPair host, container;
    termios before {};
    ASSERT_EQ(::tcgetattr(host.master, &before), 0);
    Child shell { start_shell(container.slave, "printf 'one\\ntwo\\n'") };
    container.close_slave();
    Child relay { start_relay(host.slave, -1, container.master, shell.pid) };
    host.close_slave();
    container.close_master();

    // The container's pty makes "\r\n" of "\n" (ONLCR); the host's adds nothing.
    EXPECT_EQ(read_until(host.master, [](auto const&) { return false; }), "one\r\ntwo\r\n");
    EXPECT_EQ(relay.wait(5s), 0);
    termios after {};
    ASSERT_EQ(::tcgetattr(host.master, &after), 0);
    EXPECT_EQ(after.c_lflag, before.c_lflag) << "the terminal's mode was not restored";
    EXPECT_EQ(after.c_oflag, before.c_oflag) << "the terminal's mode was not restored";
}

// stdout a pipe whose reader is gone: the container's writer ends as a
// writer to that pipe would (SIGPIPE), and the relay returns.
void expect_closed_stdout_ends(char const* script, int expected_status)
{
    PtyPair host, container;
    int pipe_ends[2];
    ASSERT_EQ(::pipe(pipe_ends), 0);
    Child shell { start_shell(container.slave, script) };
    container.close_slave();
    Child relay { start_relay(host.slave, pipe_ends[1], container.master, shell.pid) };
    host.close_slave();
    container.close_master();
    ::close(pipe_ends[1]);
    ASSERT_FALSE(read_until(pipe_ends[0], [](auto const& text) { return text.size() > 1000; }).empty());
    ::close(pipe_ends[0]);

    EXPECT_EQ(relay.wait(5s), 0) << "the relay went on after stdout's reader exited";
    int const status = shell.wait(1s);
    if (expected_status >= 0)
        EXPECT_EQ(status, expected_status);
    else
        EXPECT_NE(status, -1) << "the writer still runs";
}

TEST(ContainerTerminalRelay, ClosedStdoutEndsTheWriterWithSigpipe)
{
    expect_closed_stdout_ends("exec yes", 128 + SIGPIPE);
}

TEST(ContainerTerminalRelay, ClosedStdoutHangsUpAWriterThatIgnoresSigpipe)
{
    expect_closed_stdout_ends("trap '' PIPE; exec yes", -1);
}

// vmm stopped from outside and continued (`fg`): its shell had set the
// terminal back to cooked mode meanwhile. Stopped while output flows, so
// that the stop lands anywhere in the relay's loop.
void expect_raw_after_each_continue(ContinueHandler handler)
{
    PtyPair host, container;
    termios cooked {};
    ASSERT_EQ(::tcgetattr(host.master, &cooked), 0);
    Child shell { start_shell(container.slave, "exec yes") };
    container.close_slave();
    Child relay { start_relay(host.slave, -1, container.master, shell.pid, handler) };
    host.close_slave();
    container.close_master();
    ASSERT_TRUE(becomes_raw(host.master));

    for (int round = 0; round < 10; ++round) {
        read_until(host.master, [](auto const& text) { return text.size() > 10000; });
        stop_and_continue(relay.pid, host.master, cooked);
        read_until(host.master, [](auto const& text) { return text.size() > 10000; });
        ASSERT_TRUE(becomes_raw(host.master)) << "still cooked after continue " << round + 1;
    }
}

TEST(ContainerTerminalRelay, ContinuedRelayMakesTheTerminalRawAgain)
{
    expect_raw_after_each_continue(ContinueHandler::Installed);
}

TEST(ContainerTerminalRelay, ContinuedRelayWithoutAHandlerMakesTheTerminalRawAgain)
{
    expect_raw_after_each_continue(ContinueHandler::None);
}

// The same through `vmm --container -t`, as a person at a terminal runs it.
class ContainerTerminalRelayRun : public ContainerTest {
protected:
    // vmm with `terminal` as its controlling terminal and stdin, `output` as stdout.
    pid_t start_vmm(int terminal, int output, std::vector<std::string> const& command)
    {
        std::vector<std::string> arguments { vmm_binary, "--container", rootfs_directory, "-t", "--" };
        arguments.insert(arguments.end(), command.begin(), command.end());
        pid_t const pid = ::fork();
        if (pid == 0) {
            become_terminal_job(terminal, output);
            vmm::testing::exec_or_exit(arguments);
        }
        started_vmm_pids.push_back(pid);
        return pid;
    }
};

TEST_F(ContainerTerminalRelayRun, InputAndOutputFlowAtOnce)
{
    PtyPair host;
    Child vmm { start_vmm(host.slave, -1, { "sh", "-c", "stty raw -echo; echo ready; " + output_first }), SIGTERM };
    host.close_slave();
    auto const ready = [](std::string const& text) { return text.find('\n', std::min(text.find("ready"), text.size())) != std::string::npos; };
    auto const first = read_until(host.master, ready);
    ASSERT_TRUE(ready(first)) << first;
    auto const input = letters(1 << 20);
    auto const expected = repeated_y(1000000) + input;
    auto const already = first.substr(first.find('\n', first.find("ready")) + 1);
    auto const output = already + type_and_read(host.master, input, expected.size() - already.size());
    EXPECT_EQ(output.size(), expected.size()) << "the relay stopped moving";
    EXPECT_TRUE(output == expected) << "the bytes changed on their way";
}

TEST_F(ContainerTerminalRelayRun, NewlineReachesTheHostAsOneCarriageReturn)
{
    PtyPair host;
    Child vmm { start_vmm(host.slave, -1, { "printf", "one\\ntwo\\n" }), SIGTERM };
    host.close_slave();
    EXPECT_EQ(read_until(host.master, [](auto const&) { return false; }), "one\r\ntwo\r\n");
    EXPECT_EQ(vmm.wait(5s), 0);
}

TEST_F(ContainerTerminalRelayRun, ClosedStdoutEndsTheRunWithSigpipe)
{
    PtyPair host;
    int pipe_ends[2];
    ASSERT_EQ(::pipe(pipe_ends), 0);
    Child vmm { start_vmm(host.slave, pipe_ends[1], { "yes" }), SIGTERM };
    host.close_slave();
    ::close(pipe_ends[1]);
    ASSERT_FALSE(read_until(pipe_ends[0], [](auto const& text) { return !text.empty(); }).empty());
    ::close(pipe_ends[0]);
    EXPECT_EQ(vmm.wait(5s), 128 + SIGPIPE) << "-1: vmm went on after stdout's reader exited";
}

TEST_F(ContainerTerminalRelayRun, ContinuedRunMakesTheTerminalRawAgain)
{
    PtyPair host;
    termios cooked {};
    ASSERT_EQ(::tcgetattr(host.master, &cooked), 0);
    Child vmm { start_vmm(host.slave, -1, { "sh", "-c", "echo ready; exec sleep 30" }), SIGTERM };
    host.close_slave();
    ASSERT_TRUE(contains("ready")(read_until(host.master, contains("ready"))));
    ASSERT_TRUE(is_raw(host.master));
    stop_and_continue(vmm.pid, host.master, cooked);
    EXPECT_TRUE(becomes_raw(host.master)) << "vmm left the terminal cooked after its continue";
}

}
