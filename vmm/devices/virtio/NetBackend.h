#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace vmm::virtio {

// What virtio-net exchanges Ethernet frames with: a non-blocking file
// descriptor that carries one frame per read() and per write(), each behind
// a 12-byte struct virtio_net_hdr_v1 (checksum and segmentation offload
// metadata). A TAP opened with IFF_VNET_HDR is one; the tests use a socket pair.
class NetBackend {
public:
    virtual ~NetBackend() = default;

    virtual std::string name() const = 0;
    virtual int fd() const = 0;

    // Which offloads the guest accepts (TUN_F_* bits of <linux/if_tun.h>):
    // only then may frames with a partial checksum (TUN_F_CSUM) or larger
    // than the MTU (TUN_F_TSO4, TUN_F_TSO6) reach it. An error message on failure.
    virtual std::optional<std::string> set_offloads(uint32_t tun_offloads) = 0;
};

}
