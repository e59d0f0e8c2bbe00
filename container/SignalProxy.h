#pragma once

#include <csignal>
#include <sys/types.h>

namespace vmm::container {

// A runtime in the foreground stands for the container's process, as runc
// and docker run do: every signal it can catch goes on to that process
// (`vmm --container`: the container's init, which passes them to the
// command; `vmm-runc run` and `exec`: the process itself), so that `kill
// RUNTIME` stops the container instead of orphaning it, and the runtime then
// exits with the process's status. The terminal's stop signals go on too,
// as runc and docker pass them: the runtime does not stop while the
// container runs on (a container's init ignores them). Not SIGCHLD (the
// runtime's own children), SIGWINCH (the terminal relay resizes the pty
// instead) or SIGPIPE, which is ignored while the proxy lives: a write to a
// child that died early fails with EPIPE instead. A fault the runtime itself causes
// (SIGSEGV ...) or raises (abort) is not forwarded: it ends the runtime as
// it would without the proxy.
//
// Signals that arrive before forward_to() wait for it and are sent then.
// One proxy at a time; destroying it restores what the signals did before:
// SIGPIPE at once, each proxied signal when it next comes (its handler puts
// back the old action and raises it again), so that a run's end makes one
// system call here, not one per signal.
class SignalProxy {
public:
    // When the handlers go in: at once, or in forward_to(), for a caller
    // that holds the proxied signals blocked until then (HeldForChild), so
    // that none is lost and a system call per signal is off its way to the
    // container. SIGPIPE is ignored at once either way.
    enum class Handlers {
        AtOnce,
        WhenForwarding,
    };

    explicit SignalProxy(Handlers handlers = Handlers::AtOnce);
    ~SignalProxy();
    SignalProxy(SignalProxy const&) = delete;
    SignalProxy& operator=(SignalProxy const&) = delete;

    // Installs the handlers if they are not in yet; what they catch before
    // forward_to() waits for it, or goes with the proxy.
    void install_handlers();
    void forward_to(pid_t pid);

    // Holds the proxied signals blocked in this thread while it lives, so
    // that a child made meanwhile starts with them blocked: what the proxy
    // forwards before the child's init can take it then waits, queued,
    // instead of meeting the inherited proxy handler or the default action
    // of a PID namespace's init, which discards it. (The kernel never
    // discards a blocked signal.) vmm-init keeps them blocked and takes
    // them with sigwaitinfo; another program starts with them unblocked.
    class HeldForChild {
    public:
        HeldForChild();
        ~HeldForChild();
        HeldForChild(HeldForChild const&) = delete;
        HeldForChild& operator=(HeldForChild const&) = delete;

    private:
        sigset_t m_previous;
    };

private:
    bool m_installed { false };
    bool m_pipe_ignored { false };
};

}
