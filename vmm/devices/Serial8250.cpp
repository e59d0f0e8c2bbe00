#include "vmm/devices/Serial8250.h"

#include <spdlog/spdlog.h>

namespace vmm {

namespace {

// Register offsets from the base port.
constexpr uint64_t data_register = 0;             // RBR/THR, or DLL with DLAB.
constexpr uint64_t interrupt_enable_register = 1; // IER, or DLM with DLAB.
constexpr uint64_t interrupt_id_register = 2;     // IIR on read, FCR on write.
constexpr uint64_t line_control_register = 3;
constexpr uint64_t modem_control_register = 4;
constexpr uint64_t line_status_register = 5;
constexpr uint64_t modem_status_register = 6;
constexpr uint64_t scratch_register = 7;

constexpr uint8_t ier_received_data = 0x01;
constexpr uint8_t ier_transmitter_empty = 0x02;
constexpr uint8_t ier_modem_status = 0x08;
constexpr uint8_t iir_modem_status = 0x00;
constexpr uint8_t iir_no_interrupt = 0x01;
constexpr uint8_t iir_transmitter_empty = 0x02;
constexpr uint8_t iir_received_data = 0x04;
constexpr uint8_t iir_fifo_enabled = 0xc0;
constexpr uint8_t fcr_enable_fifo = 0x01;
constexpr uint8_t fcr_clear_receive = 0x02;
constexpr uint8_t lcr_divisor_latch = 0x80;
constexpr uint8_t mcr_request_to_send = 0x02;
constexpr uint8_t mcr_out2 = 0x08; // Gates the interrupt output on PCs.
constexpr uint8_t mcr_loopback = 0x10;
constexpr uint8_t lsr_data_ready = 0x01;
constexpr uint8_t lsr_transmitter_holding_empty = 0x20;
constexpr uint8_t lsr_transmitter_empty = 0x40;
constexpr uint8_t msr_delta_clear_to_send = 0x01;
constexpr uint8_t msr_clear_to_send = 0x10;
constexpr uint8_t msr_data_set_ready = 0x20;
constexpr uint8_t msr_carrier_detect = 0x80;

}

Serial8250::Serial8250(InterruptLevel set_interrupt_level, std::shared_ptr<ConsoleOutput> output)
    : m_set_interrupt_level(std::move(set_interrupt_level))
    , m_output(std::move(output))
{
}

void Serial8250::read(uint64_t offset, std::span<uint8_t> data)
{
    std::lock_guard lock(m_mutex);
    for (auto& byte : data)
        byte = 0;
    if (!data.empty())
        data[0] = read_register(offset);
    update_interrupt();
}

void Serial8250::write(uint64_t offset, std::span<uint8_t const> data)
{
    if (data.empty())
        return;
    std::lock_guard lock(m_mutex);
    write_register(offset, data[0]);
    update_interrupt();
}

void Serial8250::queue_input(std::span<uint8_t const> bytes)
{
    std::lock_guard lock(m_mutex);
    for (auto byte : bytes) {
        if (m_pending.size() < input_capacity)
            m_pending.push_back(byte);
    }
    update_interrupt();
}

void Serial8250::output_resumed()
{
    std::lock_guard lock(m_mutex);
    update_clear_to_send();
    update_interrupt();
}

void Serial8250::update_clear_to_send()
{
    bool const clear = !m_output->is_backed_up();
    if (clear == m_clear_to_send)
        return;
    m_clear_to_send = clear;
    m_clear_to_send_changed = true;
    // One line per spell (hundreds of KiB apart): under -v it says why a guest's output slows down.
    if (clear)
        spdlog::debug("console: stdout caught up; the UART raises CTS again");
    else
        spdlog::debug("console: stdout is behind; the UART drops CTS to hold the guest's output back");
}

size_t Serial8250::pending_input()
{
    std::lock_guard lock(m_mutex);
    return m_pending.size();
}

bool Serial8250::interrupts_routed() const
{
    // On a PC the UART's interrupt reaches the IRQ line only through OUT2,
    // and never in loopback mode.
    return (m_modem_control & (mcr_out2 | mcr_loopback)) == mcr_out2;
}

void Serial8250::deliver_pending_input()
{
    // Linux's driver sets OUT2 and enables the received-data interrupt only
    // once it is ready to read (after its probe and its FIFO reset).
    if (!(m_interrupt_enable & ier_received_data) || !interrupts_routed() || !(m_modem_control & mcr_request_to_send))
        return;
    if (m_pending.empty())
        return;
    while (!m_pending.empty() && m_input.size() < input_capacity) {
        m_input.push_back(m_pending.front());
        m_pending.pop_front();
    }
    if (m_pending.empty() && m_input_taken)
        m_input_taken();
}

uint8_t Serial8250::read_register(uint64_t offset)
{
    bool const divisor_latch = m_line_control & lcr_divisor_latch;
    switch (offset) {
    case data_register:
        if (divisor_latch)
            return m_divisor_low;
        if (m_input.empty())
            return 0;
        {
            uint8_t byte = m_input.front();
            m_input.pop_front();
            return byte;
        }
    case interrupt_enable_register:
        return divisor_latch ? m_divisor_high : m_interrupt_enable;
    case interrupt_id_register: {
        uint8_t const fifo_bits = (m_fifo_control & fcr_enable_fifo) ? iir_fifo_enabled : 0;
        if ((m_interrupt_enable & ier_received_data) && !m_input.empty())
            return fifo_bits | iir_received_data;
        if ((m_interrupt_enable & ier_transmitter_empty) && m_transmitter_empty_pending) {
            // Reading IIR with THRE as the source acknowledges it.
            m_transmitter_empty_pending = false;
            return fifo_bits | iir_transmitter_empty;
        }
        // Reading MSR acknowledges this one.
        if ((m_interrupt_enable & ier_modem_status) && m_clear_to_send_changed)
            return fifo_bits | iir_modem_status;
        return fifo_bits | iir_no_interrupt;
    }
    case line_control_register:
        return m_line_control;
    case modem_control_register:
        return m_modem_control;
    case line_status_register:
        return lsr_transmitter_holding_empty | lsr_transmitter_empty | (m_input.empty() ? 0 : lsr_data_ready);
    case modem_status_register:
        if (m_modem_control & mcr_loopback) {
            // In loopback, DTR/RTS/OUT1/OUT2 read back as DSR/CTS/RI/DCD.
            uint8_t const outputs = m_modem_control & 0x0f;
            return static_cast<uint8_t>(((outputs & 0x1) << 5) | ((outputs & 0x2) << 3) | ((outputs & 0x4) << 4) | ((outputs & 0x8) << 4));
        }
        {
            uint8_t const status = msr_carrier_detect | msr_data_set_ready | (m_clear_to_send ? msr_clear_to_send : 0)
                | (m_clear_to_send_changed ? msr_delta_clear_to_send : 0);
            m_clear_to_send_changed = false;
            return status;
        }
    case scratch_register:
        return m_scratch;
    default:
        return 0xff;
    }
}

void Serial8250::write_register(uint64_t offset, uint8_t value)
{
    bool const divisor_latch = m_line_control & lcr_divisor_latch;
    switch (offset) {
    case data_register:
        if (divisor_latch) {
            m_divisor_low = value;
            return;
        }
        if (m_modem_control & mcr_loopback) {
            if (m_input.size() < input_capacity)
                m_input.push_back(value);
        } else {
            // Never blocks: a host that does not read holds the guest back
            // through CTS, and beyond the buffer loses output, not the VMM.
            m_output->write({ &value, 1 });
            update_clear_to_send();
        }
        m_transmitter_empty_pending = true;
        return;
    case interrupt_enable_register:
        if (divisor_latch) {
            m_divisor_high = value;
            return;
        }
        // Enabling THRE while the transmitter is empty raises it at once.
        if ((value & ier_transmitter_empty) && !(m_interrupt_enable & ier_transmitter_empty))
            m_transmitter_empty_pending = true;
        m_interrupt_enable = value & 0x0f;
        return;
    case interrupt_id_register:
        m_fifo_control = value;
        if (value & fcr_clear_receive)
            m_input.clear();
        return;
    case line_control_register:
        m_line_control = value;
        return;
    case modem_control_register:
        m_modem_control = value & 0x1f;
        return;
    case scratch_register:
        m_scratch = value;
        return;
    default:
        return;
    }
}

bool Serial8250::interrupt_pending() const
{
    return interrupts_routed()
        && (((m_interrupt_enable & ier_received_data) && !m_input.empty())
            || ((m_interrupt_enable & ier_transmitter_empty) && m_transmitter_empty_pending)
            || ((m_interrupt_enable & ier_modem_status) && m_clear_to_send_changed));
}

void Serial8250::update_interrupt()
{
    deliver_pending_input();
    bool const level = interrupt_pending();
    if (level == m_interrupt_level)
        return;
    m_interrupt_level = level;
    m_set_interrupt_level(level);
}

}
