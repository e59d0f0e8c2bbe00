#pragma once

#include "vmm/devices/ConsoleOutput.h"
#include "vmm/devices/Device.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>

namespace vmm {

// A 16550A-compatible UART (the 8250 family Linux's serial8250 driver
// drives) on eight I/O ports. It transmits at once, so the transmitter is
// always empty; it raises its interrupt for "transmitter empty" (THRE),
// "received data" and "modem status" as IER asks, and reports them in IIR,
// as hardware does: Linux's tty layer waits for THRE interrupts before it
// writes more.
//
// Output flow control: while the host's stdout does not keep up (the
// output is backed up, see ConsoleOutput), the UART drops CTS, and raises
// it again (with a modem status interrupt for the change) once the output
// has caught up. The driver of a tty with CRTSCTS stops sending meanwhile,
// so its writers wait instead of their output being dropped.
class Serial8250 final : public Device {
public:
    using InterruptLevel = std::function<void(bool level)>;

    Serial8250(InterruptLevel set_interrupt_level, std::shared_ptr<ConsoleOutput> output);

    std::string name() const override { return "serial8250"; }
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<uint8_t const> data) override;

    // Bytes typed on the host; called from the I/O thread. They wait until
    // the guest's driver is ready (received-data interrupt enabled and routed
    // through OUT2) and then enter the receive FIFO, so that input typed
    // during boot is not dropped by the driver's probe and FIFO reset. They
    // also wait while the guest holds RTS low (hardware flow control: the
    // driver of a tty with CRTSCTS drops RTS when its buffer is full).
    // Bytes beyond input_capacity are dropped: the caller checks
    // pending_input() first.
    void queue_input(std::span<uint8_t const> bytes);
    size_t pending_input();
    // Called (on any thread, with the UART's lock held) whenever the
    // receive FIFO has taken all of the queued input.
    void set_input_taken_callback(std::function<void()> callback) { m_input_taken = std::move(callback); }

    // Called when the output has caught up (ConsoleOutput's resumed callback).
    void output_resumed();

    static constexpr size_t input_capacity = 4096;

private:
    uint8_t read_register(uint64_t offset);
    void write_register(uint64_t offset, uint8_t value);
    bool interrupt_pending() const;
    bool interrupts_routed() const;
    void update_interrupt();
    void deliver_pending_input();
    void update_clear_to_send();

    std::mutex m_mutex;
    InterruptLevel m_set_interrupt_level;
    std::shared_ptr<ConsoleOutput> m_output;
    std::function<void()> m_input_taken;
    std::deque<uint8_t> m_input;   // The receive FIFO the guest reads.
    std::deque<uint8_t> m_pending; // Host input not yet delivered.
    uint8_t m_interrupt_enable { 0 };
    uint8_t m_line_control { 0x03 }; // 8N1.
    uint8_t m_modem_control { 0 };
    uint8_t m_scratch { 0 };
    uint8_t m_fifo_control { 0 };
    uint8_t m_divisor_low { 0x0c }; // 9600 baud.
    uint8_t m_divisor_high { 0 };
    bool m_transmitter_empty_pending { false };
    bool m_clear_to_send { true };        // CTS as the guest last saw it or will see it.
    bool m_clear_to_send_changed { false }; // DCTS: CTS changed since MSR was last read.
    bool m_interrupt_level { false };
};

}
