#pragma once

#include "vmm/devices/Device.h"
#include "vmm/devices/RateLimitedLog.h"
#include "vmm/devices/virtio/InterruptLine.h"
#include "vmm/devices/virtio/MmioRegisters.h"
#include "vmm/devices/virtio/VirtioDevice.h"
#include "vmm/devices/virtio/Virtqueue.h"
#include "vmm/memory/GuestMemory.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace vmm::virtio {

// The virtio-mmio transport, version 2 (virtio-v1.1 section 4.2): the 4 KiB
// register window Linux's virtio_mmio driver programs. vCPU threads access
// the registers; queue work runs on the I/O thread when the notification
// eventfd fires (KVM signals it through an ioeventfd on QueueNotify, or
// write() does when no ioeventfd is registered). One mutex guards the
// registers and the queues; the interrupt status is atomic so that the
// guest's interrupt handler never waits for a request in progress. Once the
// driver sets DRIVER_OK the queues' registers are frozen (only QueueReady=0
// is honoured): the I/O thread works on their memory from then on. A device
// that stops a pass early (QueueHealth::MoreWork) gets another after the
// I/O thread has served everything else that is waiting.
//
// Optional polling (set_polling()): after a pass, the I/O thread keeps
// looking at the available rings for up to the bound since the last request
// it found, with the driver told not to notify, so that a driver with one
// request in flight is served without a notification and a wake-up. A call
// polls for at most polling_slice in all and then yields to the I/O thread's
// other work through kick(), coming back with notifications still off.
class MmioTransport final : public Device {
public:
    static constexpr uint64_t window_size = 0x1000;
    static constexpr uint64_t queue_notify_offset = VIRTIO_MMIO_QUEUE_NOTIFY;

    MmioTransport(GuestMemory const& memory, std::shared_ptr<VirtioDevice> device, std::unique_ptr<InterruptLine> interrupt);

    std::string name() const override;
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<uint8_t const> data) override;

    // The eventfd a queue notification signals; register it as an ioeventfd
    // at base + queue_notify_offset and watch it on the I/O thread.
    int notify_fd() const { return m_notify.get(); }
    // I/O thread: clears the notification and serves every ready queue.
    void handle_notify_event();
    // Serves every ready queue now (what handle_notify_event() does after clearing the eventfd).
    void process_queues();
    // Any thread: asks the I/O thread to serve the queues soon (new console input).
    void kick();
    // Polls the available rings for up to `bound` after each pass (0: never,
    // the default). Set before the driver starts.
    void set_polling(std::chrono::microseconds bound);
    static constexpr std::chrono::microseconds polling_slice { 1000 };

    uint64_t negotiated_features() const;

    // Any thread: runs `change` (which edits the device's configuration)
    // under the transport's lock, starts a new configuration generation and
    // tells the driver with a configuration change interrupt; a change made
    // before the driver is running is announced when it sets DRIVER_OK, so
    // that a driver that reads the configuration only on a change still
    // sees it.
    void change_configuration(std::function<void()> const& change);

private:
    uint32_t read_register(uint64_t offset);
    void write_register(uint64_t offset, uint32_t value);
    void write_status(uint32_t value);
    void enable_queue();
    // Marks the device DEVICE_NEEDS_RESET and tells the driver (configuration change interrupt).
    void fail(std::string const& reason);
    void raise_interrupt(uint32_t bits);
    void reset();
    Virtqueue* selected_queue();
    enum class PassResult {
        Done,     // The device is running and has nothing left from this pass.
        MoreWork, // kick() was called for the rest.
        Stopped,  // Not running (no DRIVER_OK, reset, failed).
    };
    PassResult serve_queues();
    bool has_available();
    void poll_queues(std::chrono::microseconds bound);

    GuestMemory const& m_memory;
    std::shared_ptr<VirtioDevice> m_device;
    std::unique_ptr<InterruptLine> m_interrupt;
    FileDescriptor m_notify;

    mutable std::mutex m_mutex;
    uint32_t m_status { 0 };
    uint32_t m_device_features_select { 0 };
    uint32_t m_driver_features_select { 0 };
    uint64_t m_driver_features { 0 };
    uint32_t m_queue_select { 0 };
    uint32_t m_configuration_generation { 0 };
    bool m_configuration_change_unannounced { false };
    std::vector<Virtqueue> m_queues;
    std::chrono::microseconds m_polling { 0 };
    // The deadline of a poll that yielded (I/O thread only).
    std::optional<std::chrono::steady_clock::time_point> m_poll_resumes_until;
    std::atomic<uint32_t> m_interrupt_status { 0 };
    std::atomic<bool> m_served_elsewhere { false }; // See VirtioDevice::queues_served_elsewhere().
    RateLimitedLog m_log;
};

}
