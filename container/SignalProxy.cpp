#include "container/SignalProxy.h"

#include "common/Error.h"

#include <cerrno>
#include <fmt/format.h>
#include <pthread.h>
#include <unistd.h>

namespace vmm::container {

namespace {

volatile sig_atomic_t target_pid = 0;
volatile sig_atomic_t pending[NSIG] {};

bool is_fault(int signal_number)
{
    return signal_number == SIGSEGV || signal_number == SIGBUS || signal_number == SIGFPE || signal_number == SIGILL || signal_number == SIGTRAP
        || signal_number == SIGSYS;
}

void proxy_signal(int signal_number, siginfo_t* info, void*)
{
    bool const own = (is_fault(signal_number) && info->si_code > 0) || (info->si_code <= 0 && info->si_pid == ::getpid());
    if (own) {
        // What it would have done without the proxy: the default action,
        // taken again once this handler returns (a fault re-executes the
        // instruction; a raised signal is raised once more).
        int const saved = errno;
        ::signal(signal_number, SIG_DFL);
        if (!is_fault(signal_number) || info->si_code <= 0)
            ::raise(signal_number);
        errno = saved;
        return;
    }
    int const saved = errno;
    if (target_pid > 0)
        ::kill(static_cast<pid_t>(target_pid), signal_number);
    else
        pending[signal_number] = 1;
    errno = saved;
}

bool is_proxied(int signal_number)
{
    return signal_number != SIGKILL && signal_number != SIGSTOP && signal_number != SIGCHLD && signal_number != SIGWINCH && signal_number != SIGPIPE
        // glibc's own (thread cancellation, setxid): not the program's to catch.
        && (signal_number < 32 || signal_number >= SIGRTMIN);
}

}

SignalProxy::SignalProxy()
{
    target_pid = 0;
    for (int signal_number = 1; signal_number < NSIG; ++signal_number)
        pending[signal_number] = 0;
    struct sigaction action {};
    action.sa_sigaction = proxy_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
        if (!is_proxied(signal_number))
            continue;
        Previous previous { signal_number, {} };
        if (::sigaction(signal_number, &action, &previous.action) < 0) {
            int const saved = errno;
            for (auto const& [number, old] : m_previous)
                ::sigaction(number, &old, nullptr);
            errno = saved;
            throw_system_error("sigaction", fmt::format("signal {} (signal proxy)", signal_number));
        }
        m_previous.push_back(previous);
    }
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    Previous pipe { SIGPIPE, {} };
    if (::sigaction(SIGPIPE, &ignore, &pipe.action) == 0)
        m_previous.push_back(pipe);
}

SignalProxy::~SignalProxy()
{
    target_pid = 0;
    for (auto const& [number, old] : m_previous)
        ::sigaction(number, &old, nullptr);
}

SignalProxy::HeldForChild::HeldForChild()
{
    sigset_t held;
    sigemptyset(&held);
    for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
        if (is_proxied(signal_number))
            sigaddset(&held, signal_number);
    }
    if (::pthread_sigmask(SIG_BLOCK, &held, &m_previous) != 0)
        throw Error("pthread_sigmask: cannot hold the proxied signals for the container's start");
}

SignalProxy::HeldForChild::~HeldForChild()
{
    ::pthread_sigmask(SIG_SETMASK, &m_previous, nullptr);
}

void SignalProxy::forward_to(pid_t pid)
{
    target_pid = pid;
    for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
        if (pending[signal_number]) {
            pending[signal_number] = 0;
            ::kill(pid, signal_number);
        }
    }
}

}
