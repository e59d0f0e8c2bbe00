// How virtio devices interrupt the guest: LinePulseInterrupt (KVM_IRQ_LINE
// from the thread that used the buffers), which the device factories give
// every device that vmm's own threads serve on x86_64.
#include "common/Error.h"
#include "common/EventLoop.h"
#include "vmm/arch/Architecture.h"
#include "vmm/devices/virtio/BlockDevice.h"
#include "vmm/devices/virtio/InterruptLine.h"
#include "vmm/devices/virtio/MmioTransport.h"
#include "vmm/devices/virtio/VirtioDevices.h"
#include "vmm/kvm/Kvm.h"
#include "tests/virtio/KvmDeviceMachine.h"
#include "tests/virtio/QueueDriver.h"

#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <future>
#include <gtest/gtest.h>
#include <linux/kvm.h>
#include <mutex>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::testing;

namespace {

TEST(LinePulseInterrupt, DrivesTheLineHighThenLow)
{
    std::vector<bool> levels;
    LinePulseInterrupt interrupt([&](bool level) { levels.push_back(level); });
    interrupt.trigger();
    EXPECT_EQ(levels, (std::vector<bool> { true, false })) << "an edge, as an irqfd's injection makes it";
    interrupt.trigger();
    EXPECT_EQ(levels.size(), 4u);
}

// KVM's edge-triggered pin as one source drives it: the line's level, and
// an interrupt for each rise from low. A second thread raises the device's
// interrupt while the first thread's pulse holds the line high (a block
// device's two queue threads). Unserialised, the second rise came from a
// high line, no edge, and its used buffer's interrupt was lost.
TEST(LinePulseInterrupt, APulseRaisedDuringAnotherMakesAnEdgeOfItsOwn)
{
    std::mutex line;
    bool level = false;
    int edges = 0;
    bool first_rise = true;
    std::promise<void> second_returned;
    auto second_done = second_returned.get_future();
    std::thread second;
    LinePulseInterrupt* shared = nullptr;
    LinePulseInterrupt interrupt([&](bool high) {
        bool start_second = false;
        {
            std::lock_guard const lock(line);
            if (high && !level)
                ++edges;
            level = high;
            start_second = high && std::exchange(first_rise, false);
        }
        if (start_second) {
            second = std::thread([&] {
                shared->trigger();
                second_returned.set_value();
            });
            // Serialised, the second pulse waits for this one: the wait ends by its timeout.
            second_done.wait_for(std::chrono::milliseconds(200));
        }
    });
    shared = &interrupt;
    interrupt.trigger();
    second.join();
    EXPECT_EQ(edges, 2) << "the second thread's interrupt merged into the first's pulse";
    EXPECT_FALSE(level);
}

#if defined(__x86_64__)
// The PIC's request register: KVM_GET_IRQCHIP of the master PIC.
uint8_t pic_requests(kvm::VirtualMachine const& vm)
{
    kvm_irqchip chip {};
    chip.chip_id = KVM_IRQCHIP_PIC_MASTER;
    if (ioctl(vm.fd(), KVM_GET_IRQCHIP, &chip) != 0)
        throw_system_error("ioctl KVM_GET_IRQCHIP");
    return chip.chip.pic.irr;
}

TEST(LinePulseInterrupt, ABlockDeviceInterruptIsOnItsPinWhenThePassEnds)
{
    if (auto const reason = kvm_device_machine_unavailable())
        GTEST_SKIP() << *reason;
    KvmDeviceMachine machine;
    auto& memory = machine.memory;
    constexpr uint32_t pin = 5;
    auto const context = machine.context(0xc0000000, pin);
    FileDescriptor image(memfd_create("interrupt-line-image", MFD_CLOEXEC));
    ASSERT_EQ(ftruncate(image.get(), 1 << 20), 0);
    auto const device = create_block_device(context, DiskOptions { "/proc/self/fd/" + std::to_string(image.get()), DiskAccess::ReadOnly });
    auto transport = std::dynamic_pointer_cast<MmioTransport>(device);
    ASSERT_TRUE(transport);

    QueueDriver driver(memory, 0x1000, 16);
    QueueDriver const* queues[] = { &driver };
    ASSERT_EQ(initialise(*transport, feature::version_1, queues), 15u);
    transport->process_queues(); // What DRIVER_OK kicked: nothing is available, nothing interrupts.
    EXPECT_EQ(pic_requests(machine.vm) & (1u << pin), 0) << "an interrupt before any request";

    // A 4 KiB read: header, data, status.
    memory.write_object(GuestAddress(0x10000), BlockDevice::RequestHeader { BlockDevice::In, 0, 0 });
    driver.set_descriptor(0, 0x10000, 16, descriptor_flag::next, 1);
    driver.set_descriptor(1, 0x11000, 4096, descriptor_flag::next | descriptor_flag::write, 2);
    driver.set_descriptor(2, 0x10020, 1, descriptor_flag::write);
    driver.make_available(0);
    transport->handle_notify_event(0); // On this thread, as the I/O thread would.
    ASSERT_EQ(driver.used_index(), 1);
    EXPECT_EQ(memory.read_object<uint8_t>(0x10020), BlockDevice::Ok);
    // The pulse came from this thread (an irqfd would leave it to a kworker):
    // its rising edge is latched in the PIC until the guest takes it.
    EXPECT_NE(pic_requests(machine.vm) & (1u << pin), 0) << "the used buffer's interrupt did not reach pin " << pin;
}
#endif

}
