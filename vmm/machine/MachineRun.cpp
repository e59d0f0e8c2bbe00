// The running machine: vCPU threads with their exit loop, the I/O thread
// (host input and signals), and the way all of it stops.

#include "common/Error.h"
#include "common/Terminal.h"
#include "vmm/machine/Machine.h"
#include "vmm/machine/MemoryUsage.h"
#include "vmm/sandbox/Sandbox.h"

#include <chrono>
#include <csignal>
#include <fmt/format.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/sysinfo.h>

namespace vmm {

namespace {

// Sent to a vCPU thread to make KVM_RUN return; its handler does nothing.
constexpr int kick_signal = SIGUSR1;

// A stdout that takes nothing for this long at exit loses the rest of the
// console output: a stalled reader must not keep vmm from ending. After the
// guest's own end, a pipe's or socket's reader may be slow (a pipeline's
// next program busy), and is waited for as a blocking writer would wait,
// up to a minute; not a terminal held by Ctrl-S, nor once a signal (SIGTERM,
// Ctrl-C) asked vmm to stop.
constexpr std::chrono::milliseconds console_drain_stall_timeout { 300 };
constexpr std::chrono::milliseconds console_drain_reader_timeout { 60'000 };

void install_kick_handler()
{
    struct sigaction action {};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    // No SA_RESTART: KVM_RUN must return EINTR to the vCPU thread.
    if (sigaction(kick_signal, &action, nullptr) != 0)
        throw_system_error("sigaction", "SIGUSR1");
}

}

int Machine::run()
{
    // Printed once set-up has succeeded, so that an error stays a single line.
    // More guest RAM than the host has is allowed (it is reserved lazily,
    // as QEMU and kvmtool allow it), but a typo in --mem should not go unseen.
    if (struct sysinfo host {}; ::sysinfo(&host) == 0) {
        auto const host_memory = uint64_t(host.totalram) * host.mem_unit;
        if (m_options.memory_size > host_memory)
            spdlog::warn("note: --mem {:.1f} GiB is more than this host's {:.1f} GiB of RAM: the host kills vmm (out of memory) if the guest comes to use it",
                double(m_options.memory_size) / double(1 << 30), double(host_memory) / double(1 << 30));
    }
    if (m_host_kind == HostKind::Pvm && m_guest == GuestKind::Linux)
        spdlog::warn("note: /dev/kvm on this host is PVM-based: the guest kernel runs emulated (a boot takes minutes) "
                     "and guest user space cannot run; use a VMX/SVM host or scripts/nested-kvm for a full guest");
    install_kick_handler();
    FileDescriptor signals;
    watch_signals(signals);

    // Restored by its destructor on every way out of here: the guest's
    // end, Ctrl-A x, SIGINT/SIGTERM/SIGHUP (through the signalfd), errors.
    RawTerminal terminal(STDIN_FILENO);
    m_raw_terminal = &terminal;
    // Test guests read input as it comes; only guest/init knows the data encoding.
    auto const encoding = m_host_input == HostStream::Terminal ? InputEncoding::Typed
        : m_guest == GuestKind::TestGuest                   ? InputEncoding::Raw
                                                            : InputEncoding::Data;
    // Data waits for guest/init's console set-up (its boot marker) where vmm's init runs.
    HostInput input(m_io_loop, STDIN_FILENO, m_input_room.get(), encoding, m_console_input,
        [this] { stop(StopReason::HostSignal, 130); },
        encoding == InputEncoding::Data && m_root_mount == RootMount::Init ? &m_guest_init_up : nullptr);

    if (m_options.print_timings) {
        for (auto const& vcpu : m_vcpus)
            m_vcpu_statistics.push_back(kvm::StatisticsFile::open(vcpu.fd(), fmt::format("vCPU {}", vcpu.index())));
    }
    // The machine is set up: from here on vmm needs no capabilities, and
    // each thread only the system calls of its kind (sandbox/BootSeccompRules.cpp).
    sandbox::prepare_process();
    for (auto& vcpu : m_vcpus)
        m_vcpu_threads.emplace_back([this, &vcpu] { run_vcpu(vcpu); });
    m_queue_threads.start([] { sandbox::confine_thread(sandbox::ThreadKind::BlockQueue); },
        [this](std::string const& message) { stop(StopReason::Failure, 1, message); });
    // After the vCPU threads exist, which would otherwise inherit this filter too.
    try {
        sandbox::confine_thread(m_options.print_timings ? sandbox::ThreadKind::IoWithTimings : sandbox::ThreadKind::Io);
    } catch (Error const& error) {
        stop(StopReason::Failure, 1, error.what());
    }

    try {
        m_io_loop.run();
    } catch (Error const& error) {
        stop(StopReason::Failure, 1, error.what());
    }
    kick_vcpus();
    for (auto& thread : m_vcpu_threads)
        thread.join();
    m_vcpu_threads.clear();
    m_queue_threads.stop();
    // Console output stdout has not taken yet, for as long as it keeps taking it.
    bool const waits_for_reader = m_stop_reason != StopReason::HostSignal && !::isatty(STDOUT_FILENO);
    m_console_output->drain(waits_for_reader ? console_drain_reader_timeout : console_drain_stall_timeout);
    if (auto const dropped = m_console_output->dropped_bytes())
        spdlog::warn("console: {} bytes of guest output were dropped: stdout did not take them", dropped);
    m_timings.mark(Timings::Milestone::Exit);
    m_raw_terminal = nullptr;
    if (terminal.is_active())
        std::fputs("\r\n", stderr);
    return exit_status();
}

int Machine::exit_status()
{
    auto report = [&](std::string const& message) {
        std::fprintf(stderr, "vmm: %s\n", message.c_str());
    };
    int status = m_exit_status;
    switch (m_stop_reason) {
    case StopReason::ExitStatusReported:
    case StopReason::HostSignal:
        break;
    case StopReason::GuestReset:
        // A reset is a normal end for an interactive guest; with a command,
        // it means the command never reported (a kernel panic, say).
        if (!m_options.command.empty()) {
            report("the guest reset before its command reported an exit status (see the console output above)");
            status = 1;
        }
        break;
    case StopReason::TripleFault:
        report("the guest triple-faulted (KVM_EXIT_SHUTDOWN)");
        status = 1;
        break;
    case StopReason::Failure:
    case StopReason::Running:
        report(m_stop_message.empty() ? "the guest stopped for an unknown reason" : m_stop_message);
        status = 1;
        break;
    }
    if (m_options.print_timings) {
        std::fprintf(stderr, "vmm: timings: %s\n", m_timings.summary().c_str());
        auto const usage = measure_memory_usage(m_memory);
        auto mebibytes = [](uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); };
        // Anonymous memory is what one more vmm costs; private dirty also
        // counts library pages on a RAM file system (see MemoryUsage.h).
        std::fprintf(stderr, "vmm: memory: resident %.1f MiB, guest pages %.1f MiB, vmm overhead %.2f MiB (private dirty %.2f MiB, anonymous %.2f MiB)\n",
            mebibytes(usage.resident_bytes), mebibytes(usage.guest_resident_bytes), mebibytes(usage.overhead_bytes()),
            mebibytes(usage.private_overhead_bytes()), mebibytes(usage.anonymous_overhead_bytes()));
        for (size_t index = 0; index < m_vcpu_statistics.size(); ++index) {
            if (m_vcpu_statistics[index])
                std::fprintf(stderr, "vmm: vCPU %zu: %s\n", index, kvm::describe_statistics(m_vcpu_statistics[index]->values()).c_str());
        }
    }
    return status;
}

void Machine::kick_vcpus()
{
    for (size_t index = 0; index < m_vcpu_threads.size(); ++index) {
        // immediate_exit makes a KVM_RUN that has not started yet return at
        // once; the signal interrupts one that is already running.
        m_vcpus[index].run_state().immediate_exit = 1;
        if (m_vcpu_threads[index].joinable())
            pthread_kill(m_vcpu_threads[index].native_handle(), kick_signal);
    }
}

void Machine::watch_signals(FileDescriptor& signals)
{
    // SIGINT, SIGTERM and SIGHUP stop the machine, SIGWINCH resizes hvc0,
    // SIGCONT (vmm stopped and continued: blocked, it still continues it)
    // sets the terminal raw again: they go to the I/O thread's signalfd
    // only. Blocked before any vCPU thread exists, so that every thread
    // inherits the mask.
    sigset_t handled;
    sigemptyset(&handled);
    for (int signal_number : { SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGCONT })
        sigaddset(&handled, signal_number);
    if (pthread_sigmask(SIG_BLOCK, &handled, nullptr) != 0)
        throw Error("pthread_sigmask: cannot block SIGINT/SIGTERM/SIGHUP/SIGWINCH/SIGCONT");
    signals = FileDescriptor(signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals.is_valid())
        throw_system_error("signalfd");
    m_io_loop.add(signals.get(), [this, fd = signals.get()](uint32_t) {
        signalfd_siginfo info {};
        if (::read(fd, &info, sizeof(info)) != sizeof(info))
            return;
        if (info.ssi_signo == SIGWINCH) {
            follow_window_size();
        } else if (info.ssi_signo == SIGCONT) {
            if (m_raw_terminal)
                m_raw_terminal->restore_if_changed();
            follow_window_size();
        } else
            stop(StopReason::HostSignal, 128 + static_cast<int>(info.ssi_signo));
    });
}

void Machine::follow_window_size()
{
    // The 8250 has no way to tell the guest: ttyS0 keeps the size it had at boot.
    if (!m_virtio_console)
        return;
    auto size = terminal_window_size(STDIN_FILENO);
    if (!size)
        size = terminal_window_size(STDOUT_FILENO);
    if (size && size != m_window_size) {
        m_window_size = size;
        m_virtio_console->resize(*size);
    }
}

void Machine::run_vcpu(kvm::Vcpu& vcpu)
{
    try {
        sandbox::confine_thread(sandbox::ThreadKind::Vcpu);
        ExitContext const exits {
            .vcpu_index = vcpu.index(),
            .host_kind = m_host_kind,
            .io_bus = m_io_bus,
            .mmio_bus = m_mmio_bus,
            .guest_log = m_guest_log,
            .read_rip = [&vcpu] { return arch::instruction_pointer(vcpu); },
        };
        while (!m_stopping.load()) {
            if (vcpu.index() == 0)
                m_timings.mark(Timings::Milestone::FirstKvmRun);
            if (!vcpu.run())
                continue;
            if (!carry_out(vcpu, handle_exit(vcpu.run_state(), exits)))
                return;
        }
    } catch (Error const& error) {
        stop(StopReason::Failure, 1, fmt::format("vCPU {}: {}", vcpu.index(), error.what()));
    }
}

bool Machine::carry_out(kvm::Vcpu& vcpu, ExitAction action)
{
    if (std::holds_alternative<exit_action::Resume>(action))
        return true;
    if (auto* stop_action = std::get_if<exit_action::Stop>(&action)) {
        stop(stop_action->reason, stop_action->exit_status, std::move(stop_action->message));
        return false;
    }
    auto const& completion = std::get<exit_action::CompleteInstruction>(action).completion;
    arch::complete_instruction(vcpu, completion.length, completion.exception_vector);
    return true;
}

}
