#include "devices/virtio/ConsoleDevice.h"

#include "common/FileDescriptor.h"

#include <algorithm>
#include <spdlog/spdlog.h>

namespace vmm::virtio {

ConsoleDevice::ConsoleDevice(int output_fd)
    : m_output_fd(output_fd)
{
}

uint64_t ConsoleDevice::features() const
{
    return feature::ring_event_index | feature::ring_indirect_descriptors;
}

void ConsoleDevice::queue_input(std::span<uint8_t const> bytes)
{
    std::lock_guard lock(m_input_mutex);
    size_t const room = input_limit - std::min(input_limit, m_input.size());
    if (bytes.size() > room)
        spdlog::warn("console: the guest is not reading its input; {} bytes dropped", bytes.size() - room);
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
    return queue.drain(m_chain, [this](DescriptorChain const& chain) { return transmit(chain); });
}

QueueHealth ConsoleDevice::receive(Virtqueue& queue)
{
    std::lock_guard lock(m_input_mutex);
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
    return QueueHealth::Healthy;
}

uint32_t ConsoleDevice::transmit(DescriptorChain const& chain)
{
    for (auto buffer : chain.readable) {
        // An output that went away (a closed pipe) loses the guest's output, not the guest.
        if (!write_all(m_output_fd, buffer.data(), buffer.size()))
            break;
    }
    return 0;
}

}
