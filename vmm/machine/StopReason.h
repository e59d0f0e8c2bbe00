#pragma once

namespace vmm {

// Why a machine stopped; the first reason given wins (Machine::stop).
enum class StopReason {
    Running,
    ExitStatusReported, // guest/init wrote the command's status.
    GuestReset,         // i8042 reset or a KVM system event.
    TripleFault,        // KVM_EXIT_SHUTDOWN.
    HostSignal,         // SIGINT/SIGTERM/SIGHUP to vmm, or the console's quit key.
    Failure,            // An error on a vCPU or the I/O thread.
};

}
