#include "vmm/devices/virtio/ConsoleDevice.h"

#include <algorithm>
#include <spdlog/spdlog.h>

namespace vmm::virtio {

ConsoleDevice::ConsoleDevice(std::shared_ptr<ConsoleOutput> output)
    : m_output(std::move(output))
{
}

uint64_t ConsoleDevice::features() const
{
    return feature::ring_event_index | feature::ring_indirect_descriptors | feature_size;
}

void ConsoleDevice::set_window_size(WindowSize size)
{
    // cols first, then rows, as Linux's struct virtio_console_config has them.
    m_configuration[0] = static_cast<uint8_t>(size.columns);
    m_configuration[1] = static_cast<uint8_t>(size.columns >> 8);
    m_configuration[2] = static_cast<uint8_t>(size.rows);
    m_configuration[3] = static_cast<uint8_t>(size.rows >> 8);
}

void ConsoleDevice::queue_input(std::span<uint8_t const> bytes)
{
    std::lock_guard lock(m_input_mutex);
    size_t const room = input_limit - std::min(input_limit, m_input.size());
    if (bytes.size() > room)
        m_log.warn("console: the guest is not reading its input; {} bytes dropped", bytes.size() - room);
    m_input.insert(m_input.end(), bytes.begin(), bytes.begin() + std::min(room, bytes.size()));
}

size_t ConsoleDevice::pending_input() const
{
    std::lock_guard lock(m_input_mutex);
    return m_input.size();
}

QueueHealth ConsoleDevice::process_queue(uint16_t index, Virtqueue& queue)
{
    if (index == receive_queue)
        return receive(queue);
    auto const health = transmit(queue);
    // Its writes may have ended a backed-up spell the 8250 waits for.
    m_output->notify_if_resumed();
    return health;
}

QueueHealth ConsoleDevice::receive(Virtqueue& queue)
{
    std::unique_lock lock(m_input_mutex);
    bool const had_input = !m_input.empty();
    do {
        while (!m_input.empty()) {
            auto result = queue.pop(m_chain);
            if (result == PopResult::Empty)
                break;
            if (result == PopResult::BrokenQueue)
                return QueueHealth::Broken;
            uint32_t written = 0;
            if (result == PopResult::Chain) {
                for (auto buffer : m_chain.writable) {
                    size_t const piece = std::min(buffer.size(), m_input.size());
                    std::copy_n(m_input.begin(), piece, buffer.begin());
                    m_input.erase(m_input.begin(), m_input.begin() + static_cast<ptrdiff_t>(piece));
                    written += static_cast<uint32_t>(piece);
                }
            }
            queue.push_used(m_chain.head, written);
        }
        // Buffers the guest adds while input waits must wake us again.
    } while (queue.publish_available_event() && !m_input.empty());
    bool const taken = had_input && m_input.empty();
    lock.unlock();
    if (taken && m_input_taken)
        m_input_taken();
    return QueueHealth::Healthy;
}

QueueHealth ConsoleDevice::transmit(Virtqueue& queue)
{
    uint64_t budget = transmit_pass_budget;
    do {
        for (;;) {
            if (budget == 0)
                return QueueHealth::MoreWork;
            auto const result = queue.pop(m_chain);
            if (result == PopResult::Empty)
                break;
            if (result == PopResult::BrokenQueue)
                return QueueHealth::Broken;
            if (result == PopResult::Chain)
                budget -= std::min(budget, transmit_chain(m_chain));
            queue.push_used(m_chain.head, 0);
        }
    } while (queue.publish_available_event());
    return QueueHealth::Healthy;
}

uint64_t ConsoleDevice::transmit_chain(DescriptorChain const& chain)
{
    // Never blocks the I/O thread: a host that does not read loses output, not the VMM.
    uint64_t left = transmit_chain_limit;
    for (auto buffer : chain.readable) {
        auto const piece = buffer.first(std::min<uint64_t>(buffer.size(), left));
        m_output->write(piece);
        left -= piece.size();
    }
    if (chain.readable_length > transmit_chain_limit)
        m_log.warn("console: a transmit chain of {} bytes; only the first {} were written", chain.readable_length, transmit_chain_limit);
    return transmit_chain_limit - left;
}

}
