#pragma once

#include "common/EventLoop.h"
#include "vmm/arch/Architecture.h"
#include "vmm/devices/Bus.h"
#include "vmm/devices/RateLimitedLog.h"
#include "vmm/devices/Serial8250.h"
#include "vmm/kvm/Kvm.h"
#include "vmm/kvm/Statistics.h"
#include "vmm/kvm/Vcpu.h"
#include "vmm/kvm/VirtualMachine.h"
#include "vmm/machine/BootOptions.h"
#include "vmm/machine/ExitHandler.h"
#include "vmm/machine/HostInput.h"
#include "vmm/machine/KernelCmdline.h"
#include "vmm/machine/StopReason.h"
#include "common/Terminal.h"
#include "common/Timings.h"
#include "vmm/devices/virtio/QueueThreads.h"
#include "vmm/devices/virtio/VirtioDevices.h"
#include "vmm/memory/GuestMemory.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace vmm {

// One virtual machine: guest memory, the KVM VM and its vCPUs, the devices on
// the I/O-port and MMIO buses, and the I/O thread's event loop.
class Machine {
public:
    explicit Machine(BootOptions options);
    Machine(Machine const&) = delete;
    Machine& operator=(Machine const&) = delete;
    ~Machine();

    // Runs the vCPUs until the guest stops; returns vmm's exit status.
    int run();

    // Stops the machine; the first reason given wins. Safe from any thread.
    void stop(StopReason reason, int exit_status, std::string message = {});

private:
    std::vector<uint8_t> read_initrd(arch::Kernel const& kernel);
    void create_devices();
    Bus& bus_for(arch::BusRange const& range);
    void add_virtio_devices(arch::MachineDescription& description);
    std::string kernel_cmdline(arch::Kernel const& kernel, arch::MachineDescription const& description) const;
    void watch_signals(FileDescriptor& signals);
    void follow_window_size();
    void run_vcpu(kvm::Vcpu& vcpu);
    // Carries out what the exit dispatch decided; returns false when the vCPU should stop.
    bool carry_out(kvm::Vcpu& vcpu, ExitAction action);
    void kick_vcpus();
    int exit_status();

    BootOptions m_options;
    HostKind m_host_kind;
    enum class GuestKind {
        Linux,     // A Linux kernel: command line, boot information, guest/init.
        TestGuest, // A few instructions of the project's tests (tests/guests/).
    } m_guest { GuestKind::Linux };
    RootMount m_root_mount { RootMount::Kernel }; // Init when vmm supplies the initramfs.
    Timings m_timings;
    std::optional<kvm::Kvm> m_kvm;
    std::optional<kvm::VirtualMachine> m_vm;
    GuestMemory m_memory;
    Bus m_io_bus;
    Bus m_mmio_bus;
    arch::DeviceMap const& m_device_map;
    EventLoop m_io_loop;
    // Threads of devices' later queues (virtio-blk): stopped before the devices and guest memory go.
    virtio::QueueThreads m_queue_threads;
    std::shared_ptr<ConsoleOutput> m_console_output; // stdout, for the 8250 and virtio-console.
    std::shared_ptr<Serial8250> m_serial;
    HostInput::Console m_console_input;
    // vmm's stdin and stdout, and the host terminal's size (from stdin, else stdout).
    HostStream m_host_input { HostStream::Terminal };
    HostStream m_host_output { HostStream::Terminal };
    std::optional<WindowSize> m_window_size;
    // The host terminal while run() holds it raw: set raw again after vmm
    // is stopped and continued (its shell made it cooked meanwhile).
    RawTerminal* m_raw_terminal { nullptr };
    FileDescriptor m_input_room; // eventfd: the console device took the queued input, or guest/init came up.
    std::atomic<bool> m_guest_init_up { false }; // Its boot marker came: the console is set up.
    std::shared_ptr<virtio::VirtioConsole> m_virtio_console;
    std::vector<kvm::Vcpu> m_vcpus;
    // With --timings: each vCPU's KVM statistics (exits by kind), printed at exit.
    std::vector<std::optional<kvm::StatisticsFile>> m_vcpu_statistics;
    std::vector<std::thread> m_vcpu_threads;

    std::mutex m_stop_mutex;
    std::atomic<bool> m_stopping { false };
    StopReason m_stop_reason { StopReason::Running };
    int m_exit_status { 0 };
    std::string m_stop_message;
    RateLimitedLog m_guest_log; // Messages the guest's accesses cause (under -v).
};

// Boots the guest described by `options` and runs it until it reports an exit
// status, resets, or vmm is told to stop. Returns vmm's exit status: the guest
// command's status, or 0 for a reset with no command. Throws an Error for bad
// input or a failure of the host.
int boot(BootOptions const& options);

}
