#pragma once

// The driver's side of a split virtqueue, on plain guest memory: what Linux's
// virtio_ring does, reduced to what the tests, the fuzzer and the benchmark
// need to build descriptor chains and read the used ring.

#include "vmm/devices/virtio/MmioRegisters.h"
#include "vmm/devices/virtio/MmioTransport.h"
#include "vmm/devices/virtio/Virtqueue.h"
#include "vmm/memory/GuestMemory.h"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <span>

namespace vmm::virtio::testing {

namespace descriptor_flag {
inline constexpr uint16_t next = 1;
inline constexpr uint16_t write = 2;
inline constexpr uint16_t indirect = 4;
}

struct UsedElement {
    uint32_t id;
    uint32_t length;
};

class QueueDriver {
public:
    // Lays the queue out from `base`: descriptors, then the available ring, then the used ring on the next 4 KiB.
    QueueDriver(GuestMemory const& memory, GuestAddress base, uint16_t size)
        : m_memory(memory)
        , m_size(size)
        , m_descriptors(base)
        , m_available(base + 16ull * size)
        , m_used((base + 16ull * size + 6 + 2ull * size + 4095) & ~4095ull)
    {
        std::memset(m_memory.slice(base, end() - base).data(), 0, end() - base);
    }

    uint16_t size() const { return m_size; }
    GuestAddress descriptors() const { return m_descriptors; }
    GuestAddress available() const { return m_available; }
    GuestAddress used() const { return m_used; }
    // The first guest address after the queue.
    GuestAddress end() const { return m_used + 6 + 8ull * m_size; }

    void configure(Virtqueue& queue) const
    {
        queue.set_size(m_size);
        queue.set_descriptor_table(m_descriptors);
        queue.set_available_ring(m_available);
        queue.set_used_ring(m_used);
    }

    static void write_descriptor(GuestMemory const& memory, GuestAddress table, uint16_t index, GuestAddress address, uint32_t length, uint16_t flags, uint16_t next)
    {
        uint8_t bytes[16];
        std::memcpy(bytes, &address, 8);
        std::memcpy(bytes + 8, &length, 4);
        std::memcpy(bytes + 12, &flags, 2);
        std::memcpy(bytes + 14, &next, 2);
        memory.write_bytes(table + 16ull * index, bytes);
    }

    void set_descriptor(uint16_t index, GuestAddress address, uint32_t length, uint16_t flags = 0, uint16_t next = 0)
    {
        write_descriptor(m_memory, m_descriptors, index, address, length, flags, next);
    }

    // Puts `head` in the available ring and publishes it.
    void make_available(uint16_t head)
    {
        m_memory.write_object<uint16_t>(m_available + 4 + 2ull * (m_next_available % m_size), head);
        ++m_next_available;
        publish_available_index(m_next_available);
    }

    void publish_available_index(uint16_t index)
    {
        std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(m_memory.slice(m_available + 2, 2).data())).store(index, std::memory_order_release);
    }

    uint16_t next_available() const { return m_next_available; }
    void set_available_flags(uint16_t flags) { m_memory.write_object<uint16_t>(m_available, flags); }
    void set_used_event(uint16_t index) { m_memory.write_object<uint16_t>(m_available + 4 + 2ull * m_size, index); }

    uint16_t used_index() const
    {
        return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(m_memory.slice(m_used + 2, 2).data())).load(std::memory_order_acquire);
    }
    UsedElement used_element(uint16_t position) const
    {
        return m_memory.read_object<UsedElement>(m_used + 4 + 8ull * (position % m_size));
    }
    uint16_t available_event() const { return m_memory.read_object<uint16_t>(m_used + 4 + 8ull * m_size); }

private:
    GuestMemory const& m_memory;
    uint16_t m_size;
    GuestAddress m_descriptors;
    GuestAddress m_available;
    GuestAddress m_used;
    uint16_t m_next_available { 0 };
};

// Counts interrupts instead of raising them.
class CountingInterrupt final : public InterruptLine {
public:
    explicit CountingInterrupt(std::shared_ptr<std::atomic<int>> count)
        : m_count(std::move(count))
    {
    }
    void trigger() override { ++*m_count; }

private:
    std::shared_ptr<std::atomic<int>> m_count;
};

// 32-bit register accesses, as Linux's readl/writel make them.
inline void write_register(Device& device, uint64_t offset, uint32_t value)
{
    device.write(offset, { reinterpret_cast<uint8_t const*>(&value), sizeof(value) });
}

inline uint32_t read_register(Device& device, uint64_t offset)
{
    uint32_t value = 0;
    device.read(offset, { reinterpret_cast<uint8_t*>(&value), sizeof(value) });
    return value;
}

// The first steps of the driver's initialisation (section 3.1.1): reset,
// ACKNOWLEDGE and DRIVER, `features`, FEATURES_OK (which the device may refuse).
inline void negotiate(Device& transport, uint64_t features)
{
    uint32_t const acknowledged = status::acknowledge | status::driver;
    write_register(transport, VIRTIO_MMIO_STATUS, 0);
    write_register(transport, VIRTIO_MMIO_STATUS, status::acknowledge);
    write_register(transport, VIRTIO_MMIO_STATUS, acknowledged);
    write_register(transport, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    write_register(transport, VIRTIO_MMIO_DRIVER_FEATURES, static_cast<uint32_t>(features));
    write_register(transport, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    write_register(transport, VIRTIO_MMIO_DRIVER_FEATURES, static_cast<uint32_t>(features >> 32));
    write_register(transport, VIRTIO_MMIO_STATUS, acknowledged | status::features_ok);
}

// Sets up queue `index` with its three areas and marks it ready.
inline void set_up_queue(Device& transport, uint32_t index, uint16_t size, GuestAddress descriptors, GuestAddress available, GuestAddress used)
{
    write_register(transport, VIRTIO_MMIO_QUEUE_SEL, index);
    write_register(transport, VIRTIO_MMIO_QUEUE_NUM, size);
    write_register(transport, VIRTIO_MMIO_QUEUE_DESC_LOW, static_cast<uint32_t>(descriptors));
    write_register(transport, VIRTIO_MMIO_QUEUE_DESC_HIGH, static_cast<uint32_t>(descriptors >> 32));
    write_register(transport, VIRTIO_MMIO_QUEUE_AVAIL_LOW, static_cast<uint32_t>(available));
    write_register(transport, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, static_cast<uint32_t>(available >> 32));
    write_register(transport, VIRTIO_MMIO_QUEUE_USED_LOW, static_cast<uint32_t>(used));
    write_register(transport, VIRTIO_MMIO_QUEUE_USED_HIGH, static_cast<uint32_t>(used >> 32));
    write_register(transport, VIRTIO_MMIO_QUEUE_READY, 1);
}

// DRIVER_OK, the end of the initialisation. Returns the final status.
inline uint32_t set_driver_ok(Device& transport)
{
    write_register(transport, VIRTIO_MMIO_STATUS, status::acknowledge | status::driver | status::features_ok | status::driver_ok);
    return read_register(transport, VIRTIO_MMIO_STATUS);
}

// Runs the driver's initialisation with `features`, sets up queue N from
// `queues[N]`, and sets DRIVER_OK. Returns the final status.
inline uint32_t initialise(Device& transport, uint64_t features, std::span<QueueDriver const* const> queues)
{
    negotiate(transport, features);
    for (uint32_t index = 0; index < queues.size(); ++index)
        set_up_queue(transport, index, queues[index]->size(), queues[index]->descriptors(), queues[index]->available(), queues[index]->used());
    return set_driver_ok(transport);
}

}
