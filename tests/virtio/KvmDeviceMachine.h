#pragma once

// What the device factories (vmm/devices/virtio/VirtioDevices.h) need from a
// real VM, for the tests that wire devices to KVM: a VM with its interrupt
// controller and one vCPU, 1 MiB of flat guest memory and an event loop.

#include "common/EventLoop.h"
#include "vmm/arch/Architecture.h"
#include "vmm/devices/virtio/VirtioDevices.h"
#include "vmm/kvm/Kvm.h"
#include "vmm/kvm/Vcpu.h"
#include "vmm/kvm/VirtualMachine.h"
#include "vmm/memory/GuestMemory.h"

#include <cstdlib>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

namespace vmm::virtio::testing {

// Why such a test cannot run here (GTEST_SKIP's reason), or nothing.
inline std::optional<std::string> kvm_device_machine_unavailable()
{
    if (::access("/dev/kvm", R_OK | W_OK) != 0)
        return "needs /dev/kvm";
    // The host's /dev/kvm is for the host's architecture, and qemu-user passes no KVM ioctl on.
    if (char const* emulator = std::getenv("VMM_TEST_EMULATOR"))
        return std::string("needs /dev/kvm of the tests' own architecture, not under ") + emulator;
    return std::nullopt;
}

struct KvmDeviceMachine {
    kvm::Kvm kvm { kvm::Kvm::open() };
    kvm::VirtualMachine vm { kvm::VirtualMachine::create(kvm) };
    std::vector<kvm::Vcpu> vcpus { arch::create_interrupt_controller_and_vcpus(kvm, vm, 1) };
    GuestMemory memory { GuestMemory::create_flat(1 << 20) };
    EventLoop loop;

    // A device in the 4 KiB slot at `mmio_base`, interrupting on `pin`.
    DeviceContext context(uint64_t mmio_base, uint32_t pin) { return { memory, vm, loop, mmio_base, pin, 1, nullptr }; }
};

}
