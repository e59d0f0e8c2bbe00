#include "tests/support/Tmux.h"

#include "tests/support/Subprocess.h"

#include <thread>
#include <unistd.h>

namespace vmm::testing {

namespace {

constexpr char const* session_name = "vmm-test";

}

TmuxSession::TmuxSession(std::string const& shell_command, int columns, int rows)
    : m_socket("vmm-test-" + std::to_string(::getpid()))
{
    run_process(tmux({ "new-session", "-d", "-s", session_name, "-x", std::to_string(columns), "-y", std::to_string(rows), shell_command }), 20);
}

TmuxSession::~TmuxSession()
{
    run_process(tmux({ "kill-server" }), 20);
}

bool TmuxSession::available()
{
    return run_process({ "tmux", "-V" }, 20).exit_status == 0;
}

std::vector<std::string> TmuxSession::tmux(std::vector<std::string> const& arguments) const
{
    std::vector<std::string> command { "tmux", "-L", m_socket, "-f", "/dev/null" };
    command.insert(command.end(), arguments.begin(), arguments.end());
    return command;
}

void TmuxSession::send_keys(std::vector<std::string> const& keys)
{
    std::vector<std::string> arguments { "send-keys", "-t", session_name };
    arguments.insert(arguments.end(), keys.begin(), keys.end());
    run_process(tmux(arguments), 20);
}

void TmuxSession::resize(int columns, int rows)
{
    run_process(tmux({ "resize-window", "-t", session_name, "-x", std::to_string(columns), "-y", std::to_string(rows) }), 20);
}

std::string TmuxSession::screen()
{
    auto text = run_process(tmux({ "capture-pane", "-p", "-t", session_name }), 20).output;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text;
}

bool TmuxSession::wait_for(std::string const& text, std::chrono::milliseconds timeout)
{
    auto const deadline = std::chrono::steady_clock::now() + timeout;
    do {
        if (screen().find(text) != std::string::npos)
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
}

}
