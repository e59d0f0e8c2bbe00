#pragma once

// Constants of the virtio 1.x specification that the transport, the queues
// and the devices share (virtio-v1.1, sections 2, 4.2 and 5).

#include <cstdint>

namespace vmm::virtio {

// Device types (section 5).
enum class DeviceType : uint32_t {
    Network = 1,
    Block = 2,
    Console = 3,
};

// Device status bits (section 2.1).
namespace status {
inline constexpr uint32_t acknowledge = 1;
inline constexpr uint32_t driver = 2;
inline constexpr uint32_t driver_ok = 4;
inline constexpr uint32_t features_ok = 8;
inline constexpr uint32_t device_needs_reset = 64;
inline constexpr uint32_t failed = 128;
}

// Feature bits every device may offer (section 6).
namespace feature {
inline constexpr uint64_t ring_indirect_descriptors = 1ull << 28;
inline constexpr uint64_t ring_event_index = 1ull << 29;
inline constexpr uint64_t version_1 = 1ull << 32;
}

// Interrupt status bits of the MMIO transport (section 4.2.2).
namespace interrupt {
inline constexpr uint32_t used_buffer = 1;
inline constexpr uint32_t configuration_change = 2;
}

// The largest queue vmm offers; Linux's drivers use whatever the device offers.
inline constexpr uint16_t queue_size_max = 256;

}
