#pragma once

// Drives a program through tmux like a person at a terminal: a private tmux
// server (its own socket), one window of a fixed size, typed keys, and the
// screen read back.

#include <chrono>
#include <string>
#include <vector>

namespace vmm::testing {

class TmuxSession {
public:
    // Starts `shell_command` (run by sh) in a detached window of
    // `columns` x `rows`.
    TmuxSession(std::string const& shell_command, int columns, int rows);
    ~TmuxSession();
    TmuxSession(TmuxSession const&) = delete;
    TmuxSession& operator=(TmuxSession const&) = delete;

    static bool available();

    // tmux send-keys: each argument is a key name or literal text.
    void send_keys(std::vector<std::string> const& keys);
    void resize(int columns, int rows);
    // The visible screen, trailing blank lines dropped.
    std::string screen();
    // Waits until the screen contains `text`; false after `timeout`.
    bool wait_for(std::string const& text, std::chrono::milliseconds timeout = std::chrono::seconds(10));

private:
    std::vector<std::string> tmux(std::vector<std::string> const& arguments) const;
    std::string m_socket;
};

}
