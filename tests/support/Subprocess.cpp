#include "support/Subprocess.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace vmm::testing {

ProcessResult run_process(std::vector<std::string> const& arguments, int timeout_seconds, std::string const& input)
{
    ProcessResult result;
    int pipe_fds[2];
    int input_fds[2] = { -1, -1 };
    if (pipe2(pipe_fds, O_CLOEXEC) != 0 || (!input.empty() && pipe2(input_fds, O_CLOEXEC) != 0))
        return result;
    pid_t pid = fork();
    if (pid < 0)
        return result;
    if (pid == 0) {
        int input_fd = input.empty() ? open("/dev/null", O_RDONLY) : input_fds[0];
        dup2(input_fd, STDIN_FILENO);
        dup2(pipe_fds[1], STDOUT_FILENO);
        dup2(pipe_fds[1], STDERR_FILENO);
        setpgid(0, 0);
        exec_or_exit(arguments);
    }
    close(pipe_fds[1]);
    if (!input.empty()) {
        close(input_fds[0]);
        // Small inputs fit in the pipe; a reader that never reads only loses them.
        [[maybe_unused]] auto written = write(input_fds[1], input.data(), input.size());
        close(input_fds[1]);
    }
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    char buffer[4096];
    for (;;) {
        auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) {
            result.timed_out = true;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            break;
        }
        pollfd poll_fd { pipe_fds[0], POLLIN, 0 };
        int ready = poll(&poll_fd, 1, static_cast<int>(std::min<long long>(left, 1000)));
        if (ready < 0 && errno != EINTR)
            break;
        if (ready <= 0)
            continue;
        ssize_t got = read(pipe_fds[0], buffer, sizeof(buffer));
        if (got <= 0)
            break;
        result.output.append(buffer, static_cast<size_t>(got));
    }
    close(pipe_fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status))
        result.exit_status = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) {
        result.exit_status = 128 + WTERMSIG(status);
        result.dumped_core = WCOREDUMP(status);
    }
    return result;
}

void exec_or_exit(std::vector<std::string> const& arguments)
{
    std::vector<char*> argv;
    for (auto const& argument : arguments)
        argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
}

bool can_open_read_write(char const* path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int count_lines_containing(std::string const& output, std::string const& needle)
{
    std::istringstream lines(output);
    std::string line;
    int count = 0;
    while (std::getline(lines, line))
        count += line.find(needle) != std::string::npos;
    return count;
}

}
