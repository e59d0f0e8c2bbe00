#include "network/Nftables.h"

#include "common/CompanionProgram.h"
#include "common/Error.h"
#include "network/NftablesProtocol.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <utility>

extern char** environ;

namespace vmm::network {

namespace protocol = nftables_protocol;

namespace {

// The first line of libnftables' error output: what went wrong, without
// the caret lines pointing into the command.
std::string first_line(std::string_view text)
{
    std::string line(text.substr(0, text.find('\n')));
    return line.empty() ? "failed" : line;
}

// posix_spawn's set-up calls fail only without memory; each is checked all the same.
void check_spawn_setup(int result, char const* call)
{
    if (result != 0)
        throw Error(fmt::format("nftables: {}: {}", call, std::strerror(result)));
}

struct SpawnActions {
    posix_spawn_file_actions_t actions;
    SpawnActions() { check_spawn_setup(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init"); }
    ~SpawnActions() { posix_spawn_file_actions_destroy(&actions); }
    SpawnActions(SpawnActions const&) = delete;
    SpawnActions& operator=(SpawnActions const&) = delete;
    void duplicate(int fd, int target) { check_spawn_setup(posix_spawn_file_actions_adddup2(&actions, fd, target), "posix_spawn_file_actions_adddup2"); }
};

struct SpawnAttributes {
    posix_spawnattr_t attributes;
    SpawnAttributes() { check_spawn_setup(posix_spawnattr_init(&attributes), "posix_spawnattr_init"); }
    ~SpawnAttributes() { posix_spawnattr_destroy(&attributes); }
    SpawnAttributes(SpawnAttributes const&) = delete;
    SpawnAttributes& operator=(SpawnAttributes const&) = delete;
};

// How a helper that stopped answering ended, for the error line.
std::string describe_end(int status)
{
    if (WIFEXITED(status))
        return fmt::format("exit status {}", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return fmt::format("killed by signal {}", WTERMSIG(status));
    return "ended";
}

}

Nftables::Nftables()
    : Nftables(companion_program_path("vmm-nft"))
{
}

Nftables::Nftables(std::string helper_path)
    : m_helper_path(std::move(helper_path))
{
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) < 0)
        throw_system_error("socketpair", "(vmm-nft)");
    m_socket = FileDescriptor(ends[0]);
    FileDescriptor helper_end(ends[1]);
    // What the helper itself says (a loader's missing library) ends up in the error line.
    int errors[2];
    if (::pipe2(errors, O_CLOEXEC) < 0)
        throw_system_error("pipe2", "(vmm-nft)");
    m_helper_errors = FileDescriptor(errors[0]);
    FileDescriptor helper_errors(errors[1]);

    SpawnActions actions;
    actions.duplicate(helper_end.get(), STDIN_FILENO);
    actions.duplicate(helper_end.get(), STDOUT_FILENO);
    actions.duplicate(helper_errors.get(), STDERR_FILENO);
    // A process group of its own: a terminal's Ctrl-C stops vmm, which then
    // removes its rules through this helper, not the helper halfway through
    // a transaction. It ends when vmm closes the socket, or dies.
    SpawnAttributes attributes;
    sigset_t none;
    sigemptyset(&none);
    check_spawn_setup(posix_spawnattr_setsigmask(&attributes.attributes, &none), "posix_spawnattr_setsigmask");
    check_spawn_setup(posix_spawnattr_setpgroup(&attributes.attributes, 0), "posix_spawnattr_setpgroup");
    check_spawn_setup(posix_spawnattr_setflags(&attributes.attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK), "posix_spawnattr_setflags");
    char* const argv[] = { const_cast<char*>(m_helper_path.c_str()), nullptr };
    int const result = ::posix_spawn(&m_helper, m_helper_path.c_str(), &actions.actions, &attributes.attributes, argv, environ);
    if (result != 0)
        throw Error(fmt::format("nftables: {}: {} (it is built and installed next to vmm)", m_helper_path, std::strerror(result)));
}

Nftables::~Nftables()
{
    // The end of the stream ends the helper.
    m_socket.reset();
    reap_helper();
}

int Nftables::reap_helper()
{
    int status = 0;
    if (m_helper < 0)
        return status;
    while (::waitpid(m_helper, &status, 0) < 0 && errno == EINTR) {
    }
    m_helper = -1;
    return status;
}

Nftables::Answer Nftables::ask(nftables_protocol::Request request, std::string const& commands, std::string_view what)
{
    if (m_helper >= 0 && protocol::send_frame(m_socket.get(), static_cast<uint8_t>(request), commands)) {
        if (auto reply = protocol::receive_frame(m_socket.get()))
            return { static_cast<protocol::Reply>(reply->kind) == protocol::Reply::Done, std::move(reply->text) };
    }
    // It stopped answering: after it has ended, its pipe holds all it said.
    m_socket.reset();
    auto const status = reap_helper();
    auto const said = read_all(m_helper_errors.get());
    auto message = fmt::format("nftables: {}: {} {} without answering", what, m_helper_path, describe_end(status));
    if (!said.empty())
        message += fmt::format(": {}", said.substr(0, said.find('\n')));
    throw Error(message);
}

void Nftables::run(std::string const& commands, std::string_view what)
{
    auto answer = ask(protocol::Request::Run, commands, what);
    if (!answer.done)
        throw Error(fmt::format("nftables: {}: {}", what, first_line(answer.text)));
}

std::optional<nlohmann::json> Nftables::list_rules()
{
    auto const command = fmt::format("list table {}", nftables_table);
    auto answer = ask(protocol::Request::ListJson, command, command);
    if (!answer.done) {
        std::string const error = first_line(answer.text);
        if (error.find("No such file or directory") != std::string::npos)
            return std::nullopt;
        throw Error(fmt::format("nftables: {}: {}", command, error));
    }
    auto document = nlohmann::json::parse(answer.text, nullptr, false);
    if (document.is_discarded() || !document.contains("nftables"))
        throw Error(fmt::format("nftables: {}: unreadable JSON output", command));
    nlohmann::json rules = nlohmann::json::array();
    for (auto const& entry : document["nftables"]) {
        if (entry.contains("rule"))
            rules.push_back(entry["rule"]);
    }
    return rules;
}

}
