#include "container/Hooks.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "guest/protocol.h"

#include <cerrno>
#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vmm::container {

namespace {

// Waits for `pid` until the deadline (none: forever); kills it past it.
int wait_with_timeout(pid_t pid, std::optional<int> timeout_seconds, bool& timed_out)
{
    timespec start {};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int status = 0;
        pid_t done = ::waitpid(pid, &status, timeout_seconds ? WNOHANG : 0);
        if (done == pid)
            return status;
        if (done < 0 && errno != EINTR)
            throw_system_error("waitpid", "(hook)");
        if (timeout_seconds) {
            timespec now {};
            ::clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - start.tv_sec >= *timeout_seconds) {
                ::kill(pid, SIGKILL);
                timed_out = true;
                while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
                return status;
            }
            ::usleep(1000);
        }
    }
}

}

void run_hooks(std::vector<HookSpec> const& hooks, std::string_view phase, std::string const& state)
{
    for (auto const& hook : hooks) {
        int input[2];
        if (::pipe2(input, O_CLOEXEC) < 0)
            throw_system_error("pipe2", "(hook)");
        FileDescriptor read_end(input[0]);
        FileDescriptor write_end(input[1]);
        std::vector<std::string> arguments = hook.args.empty() ? std::vector<std::string> { hook.path } : hook.args;
        std::vector<char*> argv;
        for (auto& argument : arguments)
            argv.push_back(argument.data());
        argv.push_back(nullptr);
        auto environment = hook.env;
        std::vector<char*> envp;
        for (auto& variable : environment)
            envp.push_back(variable.data());
        envp.push_back(nullptr);
        pid_t pid = ::fork();
        if (pid < 0)
            throw_system_error("fork", "(hook)");
        if (pid == 0) {
            // Not the runtime's blocked signals (the proxy's, held while the
            // container is set up) nor its ignored SIGPIPE: a hook, and what
            // it leaves running, starts with every signal at its default.
            sigset_t nothing;
            sigemptyset(&nothing);
            ::sigprocmask(SIG_SETMASK, &nothing, nullptr);
            ::signal(SIGPIPE, SIG_DFL);
            ::dup2(read_end.get(), STDIN_FILENO);
            ::execve(hook.path.c_str(), argv.data(), envp.data());
            ::_exit(127);
        }
        read_end.reset();
        // A hook that does not read its stdin must not block us.
        struct sigaction ignore {};
        struct sigaction previous {};
        ignore.sa_handler = SIG_IGN;
        ::sigaction(SIGPIPE, &ignore, &previous);
        write_all(write_end.get(), state.data(), state.size());
        write_end.reset();
        ::sigaction(SIGPIPE, &previous, nullptr);
        bool timed_out = false;
        int status = wait_with_timeout(pid, hook.timeout_seconds, timed_out);
        if (timed_out)
            throw Error(fmt::format("{} hook {}: timed out after {} s", phase, hook.path, *hook.timeout_seconds));
        int exit_status = vmm_exit_status_from_wait_status(status);
        if (exit_status != 0)
            throw Error(fmt::format("{} hook {}: exited with status {}", phase, hook.path, exit_status));
    }
}

}
