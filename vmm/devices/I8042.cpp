#include "vmm/devices/I8042.h"

#include <algorithm>

namespace vmm {

namespace {

constexpr uint64_t data_port_offset = 0;
constexpr uint64_t command_port_offset = 4; // 0x64 from 0x60.

constexpr uint8_t status_output_full = 0x01;
constexpr uint8_t status_system_flag = 0x04;
constexpr uint8_t status_command = 0x08; // The last write went to the command port.

constexpr uint8_t command_read_control = 0x20;
constexpr uint8_t command_write_control = 0x60;
constexpr uint8_t command_disable_aux = 0xa7;
constexpr uint8_t command_enable_aux = 0xa8;
constexpr uint8_t command_test_aux = 0xa9;
constexpr uint8_t command_self_test = 0xaa;
constexpr uint8_t command_test_keyboard = 0xab;
constexpr uint8_t command_disable_keyboard = 0xad;
constexpr uint8_t command_enable_keyboard = 0xae;
constexpr uint8_t command_write_output_port = 0xd1;
constexpr uint8_t command_pulse_reset = 0xfe;

constexpr uint8_t self_test_passed = 0x55;
constexpr uint8_t interface_test_passed = 0x00;
constexpr uint8_t no_device = 0xff;
constexpr size_t output_capacity = 16;

}

void I8042::read(uint64_t offset, std::span<uint8_t> data)
{
    std::ranges::fill(data, 0);
    if (data.empty())
        return;
    std::lock_guard lock(m_mutex);
    if (offset == command_port_offset) {
        data[0] = status_system_flag | (m_pending_command ? status_command : 0) | (m_output.empty() ? 0 : status_output_full);
    } else if (offset == data_port_offset && !m_output.empty()) {
        data[0] = m_output.front();
        m_output.pop_front();
    }
}

void I8042::write(uint64_t offset, std::span<uint8_t const> data)
{
    if (data.empty())
        return;
    bool reset = false;
    {
        std::lock_guard lock(m_mutex);
        if (offset == command_port_offset) {
            reset = data[0] == command_pulse_reset;
            run_command(data[0]);
        } else if (offset == data_port_offset) {
            if (m_pending_command == command_write_control)
                m_control = data[0];
            else if (!m_pending_command && m_output.size() < output_capacity)
                m_output.push_back(no_device); // A byte for the keyboard: nothing answers.
            m_pending_command = 0;
        }
    }
    // Outside the lock: the reset stops the machine, which may call back into devices.
    if (reset)
        m_on_reset();
}

void I8042::run_command(uint8_t command)
{
    m_pending_command = 0;
    auto reply = [&](uint8_t byte) {
        if (m_output.size() < output_capacity)
            m_output.push_back(byte);
    };
    switch (command) {
    case command_read_control:
        reply(m_control);
        break;
    case command_write_control:
    case command_write_output_port:
        m_pending_command = command;
        break;
    case command_self_test:
        reply(self_test_passed);
        break;
    case command_test_keyboard:
        reply(interface_test_passed);
        break;
    case command_test_aux:
        reply(no_device);
        break;
    case command_disable_keyboard:
        m_control |= 0x10;
        break;
    case command_enable_keyboard:
        m_control &= static_cast<uint8_t>(~0x10);
        break;
    case command_disable_aux:
        m_control |= 0x20;
        break;
    case command_enable_aux:
        m_control &= static_cast<uint8_t>(~0x20);
        break;
    default:
        break;
    }
}

}
