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
// the registers; queue work runs on the I/O thread when a queue's
// notification eventfd fires. Each queue has its own eventfd, which KVM
// signals through an ioeventfd on QueueNotify that matches the queue's
// index (the value the driver writes there), so a notification says which
// queue has work and wakes only that queue's pass; without an ioeventfd the
// vCPU thread's write() does the same.
//
// Locking: one mutex guards the registers, the status and the features;
// each queue has its own lock, held for a pass over it and for any change
// to its ring state (so passes over different queues may run at the same
// time, on different threads; the order is the register lock, then a queue
// lock, and a pass never takes the register lock while it holds its queue's).
// The interrupt status is atomic so that the guest's interrupt handler never
// waits for a request in progress. Once the driver sets DRIVER_OK the
// queues' registers are frozen (only QueueReady=0 is honoured): the passes
// work on their memory from then on. A pass that stops early
// (QueueHealth::MoreWork) gets another after the I/O thread has served
// everything else that is waiting.
//
// Optional polling (set_polling()): after a pass, the I/O thread keeps
// looking at the available rings for up to the bound since the last request
// it found, with the driver told not to notify, so that a driver with one
// request in flight is served without a notification and a wake-up. A call
// polls for at most polling_slice in all and then yields to the I/O thread's
// other work through kick(), coming back with notifications still off.
// Polling state belongs to one I/O thread: a device served by several
// threads does not poll.
class MmioTransport final : public Device {
public:
    static constexpr uint64_t window_size = 0x1000;
    static constexpr uint64_t queue_notify_offset = VIRTIO_MMIO_QUEUE_NOTIFY;

    MmioTransport(GuestMemory const& memory, std::shared_ptr<VirtioDevice> device, std::unique_ptr<InterruptLine> interrupt);
    // Logs statistics() under -v.
    ~MmioTransport() override;

    std::string name() const override;
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<uint8_t const> data) override;

    uint16_t queue_count() const { return static_cast<uint16_t>(m_queues.size()); }
    // The eventfd a notification of `queue` signals; register it as an
    // ioeventfd at base + queue_notify_offset matching the value `queue`
    // and watch it on the I/O thread.
    int notify_fd(uint16_t queue = 0) const { return m_notify[queue].get(); }
    // I/O thread: clears the notification of `queue` and serves that queue.
    void handle_notify_event(uint16_t queue = 0);
    // Serves every ready queue now.
    void process_queues();
    // Any thread: asks the I/O thread to serve every queue soon (new console input).
    void kick();
    // Any thread: asks the I/O thread to serve `queue` soon.
    void kick(uint16_t queue);
    // Polls the available rings for up to `bound` after each pass (0: never,
    // the default). Set before the driver starts.
    void set_polling(std::chrono::microseconds bound);
    static constexpr std::chrono::microseconds polling_slice { 1000 };

    uint64_t negotiated_features() const;

    // What the transport counted, for -v at exit and tests: each of these
    // costs the guest an exit (a register access goes to vmm's user space,
    // a notification through an ioeventfd stays in the host kernel) or an
    // interrupt.
    struct Counters {
        uint64_t notifications { 0 };     // Wake-ups by a queue's eventfd.
        uint64_t passes { 0 };            // Passes over a queue.
        uint64_t interrupts { 0 };        // Used-buffer interrupts raised.
        uint64_t register_accesses { 0 }; // Reads and writes of the register window.
    };
    Counters counters() const;
    // The counters and the device's own statistics, in one line.
    std::string statistics() const;

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
    // Whether the device runs (DRIVER_OK, not failed); m_running mirrors it for the passes.
    bool is_running() const;
    void update_running() { m_running.store(is_running(), std::memory_order_release); }
    // Takes queue locks in index order (after m_mutex): for changes no pass may see half done.
    std::vector<std::unique_lock<std::mutex>> lock_all_queues();
    enum class PassResult {
        Done,     // The device is running and has nothing left from this pass.
        MoreWork, // kick() was called for the rest.
        Stopped,  // Not running (no DRIVER_OK, reset, failed).
    };
    // One pass over `index`; sets `interrupt` when the driver wants one for what it used.
    PassResult serve_queue(uint16_t index, bool& interrupt);
    // Passes over `count` queues from `first`, then one interrupt if any wants it.
    PassResult serve(uint16_t first, uint16_t count);
    bool has_available();
    // Polls every ready queue; `origin` is the queue whose notification a yield comes back through.
    void poll_queues(std::chrono::microseconds bound, uint16_t origin);

    GuestMemory const& m_memory;
    std::shared_ptr<VirtioDevice> m_device;
    std::unique_ptr<InterruptLine> m_interrupt;
    std::vector<FileDescriptor> m_notify; // One per queue.

    mutable std::mutex m_mutex;
    uint32_t m_status { 0 };
    uint32_t m_device_features_select { 0 };
    uint32_t m_driver_features_select { 0 };
    uint64_t m_driver_features { 0 };
    uint32_t m_queue_select { 0 };
    uint32_t m_configuration_generation { 0 };
    bool m_configuration_change_unannounced { false };
    std::vector<Virtqueue> m_queues;
    std::unique_ptr<std::mutex[]> m_queue_locks; // One per queue, see above.
    std::atomic<bool> m_running { false };
    std::atomic<std::chrono::microseconds::rep> m_polling { 0 };
    // The deadline of a poll that yielded (I/O thread only).
    std::optional<std::chrono::steady_clock::time_point> m_poll_resumes_until;
    std::atomic<uint32_t> m_interrupt_status { 0 };
    std::atomic<bool> m_served_elsewhere { false }; // See VirtioDevice::queues_served_elsewhere().
    RateLimitedLog m_log;
    // Relaxed: counted on the vCPU and I/O threads, read at the end.
    std::atomic<uint64_t> m_notifications { 0 };
    std::atomic<uint64_t> m_passes { 0 };
    std::atomic<uint64_t> m_interrupts { 0 };
    std::atomic<uint64_t> m_register_accesses { 0 };
};

}
