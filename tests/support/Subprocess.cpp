#include "tests/support/Subprocess.h"

#include "guest/protocol.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace vmm::testing {

namespace {

// Reads the child's output pipes until every one is closed or `deadline`
// passes; returns false on the deadline.
bool capture(std::vector<pollfd>& pipes, std::vector<std::string*> const& sinks, std::chrono::steady_clock::time_point deadline)
{
    size_t open_pipes = pipes.size();
    char buffer[4096];
    while (open_pipes > 0) {
        auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0)
            return false;
        int const ready = poll(pipes.data(), pipes.size(), static_cast<int>(std::min<long long>(left, 1000)));
        if (ready < 0 && errno != EINTR)
            return true;
        if (ready <= 0)
            continue;
        for (size_t index = 0; index < pipes.size(); ++index) {
            if (pipes[index].fd < 0 || !(pipes[index].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t const got = read(pipes[index].fd, buffer, sizeof(buffer));
            if (got > 0) {
                sinks[index]->append(buffer, static_cast<size_t>(got));
                continue;
            }
            if (got < 0 && errno == EINTR)
                continue;
            close(pipes[index].fd);
            pipes[index].fd = -1;
            --open_pipes;
        }
    }
    return true;
}

}

ProcessResult run_process(std::vector<std::string> const& arguments, ProcessOptions const& options)
{
    ProcessResult result;
    bool const separate = options.streams == OutputStreams::Separate;
    int output_fds[2];
    int error_fds[2] = { -1, -1 };
    int input_fds[2] = { -1, -1 };
    if (pipe2(output_fds, O_CLOEXEC) != 0 || (separate && pipe2(error_fds, O_CLOEXEC) != 0)
        || (!options.input.empty() && pipe2(input_fds, O_CLOEXEC) != 0))
        return result;
    pid_t pid = fork();
    if (pid < 0)
        return result;
    if (pid == 0) {
        int input_fd = options.input.empty() ? open("/dev/null", O_RDONLY) : input_fds[0];
        dup2(input_fd, STDIN_FILENO);
        dup2(output_fds[1], STDOUT_FILENO);
        dup2(separate ? error_fds[1] : output_fds[1], STDERR_FILENO);
        setpgid(0, 0);
        exec_or_exit(arguments);
    }
    result.pid = pid;
    close(output_fds[1]);
    std::vector<pollfd> pipes { { output_fds[0], POLLIN, 0 } };
    std::vector<std::string*> sinks { &result.output };
    if (separate) {
        close(error_fds[1]);
        pipes.push_back({ error_fds[0], POLLIN, 0 });
        sinks.push_back(&result.error_output);
    }
    if (!options.input.empty()) {
        close(input_fds[0]);
        // Small inputs fit in the pipe; a reader that never reads only loses them.
        [[maybe_unused]] auto written = write(input_fds[1], options.input.data(), options.input.size());
        close(input_fds[1]);
    }
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options.timeout_seconds);
    if (!capture(pipes, sinks, deadline)) {
        result.timed_out = true;
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
    }
    for (auto const& entry : pipes) {
        if (entry.fd >= 0)
            close(entry.fd);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_status = vmm_exit_status_from_wait_status(status);
    result.dumped_core = WIFSIGNALED(status) && WCOREDUMP(status);
    return result;
}

ProcessResult run_process(std::vector<std::string> const& arguments, int timeout_seconds, std::string const& input)
{
    return run_process(arguments, ProcessOptions { .timeout_seconds = timeout_seconds, .input = input, .streams = OutputStreams::Interleaved });
}

int wait_or_kill(pid_t pid, std::chrono::milliseconds limit)
{
    auto const deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return vmm_exit_status_from_wait_status(status);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
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
