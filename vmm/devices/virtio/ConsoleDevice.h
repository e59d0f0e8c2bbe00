#pragma once

#include "common/Terminal.h"
#include "vmm/devices/ConsoleOutput.h"
#include "vmm/devices/RateLimitedLog.h"
#include "vmm/devices/virtio/VirtioDevice.h"

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

namespace vmm::virtio {

// virtio-console (virtio-v1.1 section 5.3) with one port and no multiport
// feature: Linux makes it hvc0. Queue 0 (receiveq) carries host input to the
// guest, queue 1 (transmitq) the guest's output to `output`. It offers
// VIRTIO_CONSOLE_F_SIZE: the host terminal's size is in the configuration
// space, and the transport tells the driver when it changes.
class ConsoleDevice final : public VirtioDevice {
public:
    static constexpr uint16_t receive_queue = 0;
    static constexpr uint16_t transmit_queue = 1;
    // Input the guest has not taken yet is kept up to this size; more is dropped.
    static constexpr size_t input_limit = 1024 * 1024;
    // Output one transmit chain may carry; the rest of a longer one is dropped.
    static constexpr uint64_t transmit_chain_limit = 1024 * 1024;
    // Output one pass over the transmit queue writes before it lets the I/O thread do other work.
    static constexpr uint64_t transmit_pass_budget = 4 * 1024 * 1024;
    // VIRTIO_CONSOLE_F_SIZE: the configuration's cols and rows are valid.
    static constexpr uint64_t feature_size = 1ull << 0;

    explicit ConsoleDevice(std::shared_ptr<ConsoleOutput> output);

    std::string name() const override { return "console"; }
    DeviceType type() const override { return DeviceType::Console; }
    uint64_t features() const override;
    uint16_t queue_count() const override { return 2; }
    std::span<uint8_t const> configuration() const override { return m_configuration; }
    QueueHealth process_queue(uint16_t index, Virtqueue& queue) override;

    // Any thread: keeps host input for the guest (call the transport's kick() after).
    void queue_input(std::span<uint8_t const> bytes);
    size_t pending_input() const;
    // Called (on the I/O thread) whenever the guest has taken all of the input queued so far.
    void set_input_taken_callback(std::function<void()> callback) { m_input_taken = std::move(callback); }
    // With the transport's lock held (MmioTransport::change_configuration).
    void set_window_size(WindowSize size);

private:
    QueueHealth receive(Virtqueue& queue);
    QueueHealth transmit(Virtqueue& queue);
    // Writes one chain's output; returns the bytes written.
    uint64_t transmit_chain(DescriptorChain const& chain);

    std::shared_ptr<ConsoleOutput> m_output;
    // struct virtio_console_config: cols, rows (little-endian, F_SIZE), max_nr_ports, emerg_wr (zero: no features use them).
    std::array<uint8_t, 12> m_configuration {};
    std::function<void()> m_input_taken;
    DescriptorChain m_chain;
    mutable std::mutex m_input_mutex;
    std::deque<uint8_t> m_input;
    RateLimitedLog m_log;
};

}
