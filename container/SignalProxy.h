#pragma once

#include <csignal>
#include <sys/types.h>
#include <vector>

namespace vmm::container {

// A runtime in the foreground stands for the container's process, as runc
// and docker run do: every signal it can catch goes on to that process
// (`vmm --container`: the container's init, which passes them to the
// command; `vmm-runc run` and `exec`: the process itself), so that `kill
// RUNTIME` stops the container instead of orphaning it, and the runtime then
// exits with the process's status. Not SIGCHLD (the runtime's own
// children), SIGWINCH (the terminal relay resizes the pty instead), the
// terminal's stop signals (the runtime stops as any job would) or SIGPIPE,
// which is ignored while the proxy lives: a write to a child that died
// early fails with EPIPE instead. A fault the runtime itself causes
// (SIGSEGV ...) or raises (abort) is not forwarded: it ends the runtime as
// it would without the proxy.
//
// Signals that arrive before forward_to() wait for it and are sent then.
// One proxy at a time; destroying it restores what the signals did before.
class SignalProxy {
public:
    SignalProxy();
    ~SignalProxy();
    SignalProxy(SignalProxy const&) = delete;
    SignalProxy& operator=(SignalProxy const&) = delete;

    void forward_to(pid_t pid);

private:
    struct Previous {
        int signal_number;
        struct sigaction action;
    };
    std::vector<Previous> m_previous;
};

}
