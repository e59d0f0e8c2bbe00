#pragma once

#include "common/FileDescriptor.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vmm::virtio {
class TapDevice;
}

namespace vmm {

// The guest's network interface (eth0, virtio-net) and what guest/init sets on it.
struct NetOptions {
    std::shared_ptr<virtio::TapDevice> tap; // Created and put on the bridge by the caller.
    std::shared_ptr<FileDescriptor> vhost;  // /dev/vhost-net (VhostNet::open_device()), or invalid: user space.
    std::array<uint8_t, 6> mac {};
    uint16_t mtu { 1500 };
    std::string address; // "ADDRESS/PREFIX", e.g. "10.88.0.5/16".
    std::string gateway; // The default route; empty: none.
    // IPv4 name servers ("192.0.2.53") guest/init shows at /etc/resolv.conf; none: the tree's own file.
    std::vector<std::string> name_servers;
};

}
