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
// Once the proxy is gone, its handler puts back what a signal did before
// (from previous_actions) when that signal comes, and raises it again.
volatile sig_atomic_t proxy_ended = 0;
struct sigaction previous_actions[NSIG];

bool is_fault(int signal_number)
{
    return signal_number == SIGSEGV || signal_number == SIGBUS || signal_number == SIGFPE || signal_number == SIGILL || signal_number == SIGTRAP
        || signal_number == SIGSYS;
}

void proxy_signal(int signal_number, siginfo_t* info, void*)
{
    if (proxy_ended) {
        // Raised again, it meets what it met before the proxy once this
        // handler returns (a fault re-executes its instruction instead).
        int const saved = errno;
        ::sigaction(signal_number, &previous_actions[signal_number], nullptr);
        if (!is_fault(signal_number) || info->si_code <= 0)
            ::raise(signal_number);
        errno = saved;
        return;
    }
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

// Installs `action` for the signal, keeping what it did before in
// previous_actions unless a proxy before this one already did (its handler
// is still there): that is what the signal did before any proxy.
bool install(int signal_number, struct sigaction const& action)
{
    struct sigaction old {};
    if (::sigaction(signal_number, &action, &old) < 0)
        return false;
    bool const earlier_proxy = (old.sa_flags & SA_SIGINFO) && old.sa_sigaction == proxy_signal;
    if (!earlier_proxy)
        previous_actions[signal_number] = old;
    return true;
}

}

SignalProxy::SignalProxy(Handlers handlers)
{
    target_pid = 0;
    proxy_ended = 0;
    for (int signal_number = 1; signal_number < NSIG; ++signal_number)
        pending[signal_number] = 0;
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    m_pipe_ignored = install(SIGPIPE, ignore);
    if (handlers == Handlers::AtOnce)
        install_handlers();
}

void SignalProxy::install_handlers()
{
    if (m_installed)
        return;
    struct sigaction action {};
    action.sa_sigaction = proxy_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
        if (is_proxied(signal_number) && !install(signal_number, action)) {
            int const saved = errno;
            proxy_ended = 1; // What is installed puts itself back.
            errno = saved;
            throw_system_error("sigaction", fmt::format("signal {} (signal proxy)", signal_number));
        }
    }
    m_installed = true;
}

SignalProxy::~SignalProxy()
{
    // Not a sigaction per signal here, on the way out of every run: each
    // proxied signal is put back by its handler when it next comes.
    target_pid = 0;
    proxy_ended = 1;
    if (m_pipe_ignored)
        ::sigaction(SIGPIPE, &previous_actions[SIGPIPE], nullptr);
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
    install_handlers();
    for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
        if (pending[signal_number]) {
            pending[signal_number] = 0;
            ::kill(pid, signal_number);
        }
    }
}

}
