#pragma once

#include "common/FileDescriptor.h"
#include "vmm/devices/virtio/NetBackend.h"

#include <memory>
#include <string>

namespace vmm::virtio {

// A TAP interface on /dev/net/tun for virtio-net: IFF_TAP | IFF_NO_PI |
// IFF_VNET_HDR with a 12-byte header (that of virtio 1.x), non-blocking.
// The interface exists as long as the file descriptor: it is not made
// persistent, so it vanishes with vmm whatever way vmm ends (SIGKILL too).
class TapDevice final : public NetBackend {
public:
    // Creates a TAP named after `name_pattern` (a "%d" in it is replaced by
    // the kernel with the first free number). Needs CAP_NET_ADMIN; every
    // failure is one Error naming the problem (no /dev/net/tun, no permission).
    static std::shared_ptr<TapDevice> create(std::string const& name_pattern);

    std::string name() const override { return m_name; }
    int fd() const override { return m_fd.get(); }
    std::optional<std::string> set_offloads(uint32_t tun_offloads) override;

    // Sets the interface's MTU (that of the bridge it joins).
    void set_mtu(uint32_t mtu);

private:
    TapDevice(FileDescriptor fd, std::string name)
        : m_fd(std::move(fd))
        , m_name(std::move(name))
    {
    }

    FileDescriptor m_fd;
    std::string m_name;
};

}
