#pragma once

// What the virtio-net tests and the fuzzer put where a TAP would be: a
// datagram socket pair, one frame (behind its 12-byte virtio header) per
// datagram, as a TAP with IFF_VNET_HDR reads and writes them.

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "vmm/devices/virtio/NetBackend.h"
#include "vmm/devices/virtio/NetDevice.h"

#include <cstdint>
#include <span>
#include <sys/socket.h>
#include <sys/uio.h>
#include <vector>

namespace vmm::virtio::testing {

class SocketPairBackend final : public NetBackend {
public:
    SocketPairBackend()
    {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
            throw_system_error("socketpair", "virtio-net test backend");
        m_device_end = FileDescriptor(fds[0]);
        m_wire_end = FileDescriptor(fds[1]);
    }

    std::string name() const override { return "socket pair"; }
    int fd() const override { return m_device_end.get(); }
    std::optional<std::string> set_offloads(uint32_t tun_offloads) override
    {
        m_offloads = tun_offloads;
        return std::nullopt;
    }
    uint32_t offloads() const { return m_offloads; }

    // The far end: what the device sent, and frames for it to receive.
    int wire_fd() const { return m_wire_end.get(); }
    bool send_to_device(std::span<uint8_t const> header, std::span<uint8_t const> frame)
    {
        iovec parts[2] = { { const_cast<uint8_t*>(header.data()), header.size() }, { const_cast<uint8_t*>(frame.data()), frame.size() } };
        return ::writev(m_wire_end.get(), parts, 2) == static_cast<ssize_t>(header.size() + frame.size());
    }
    // Any bytes as one datagram (the fuzzer's frames, malformed ones included).
    void send_raw(std::span<uint8_t const> bytes) { [[maybe_unused]] auto sent = ::send(m_wire_end.get(), bytes.data(), bytes.size(), MSG_DONTWAIT); }
    std::vector<uint8_t> receive_from_device()
    {
        std::vector<uint8_t> bytes(NetDevice::frame_size_max + 1);
        ssize_t const length = ::recv(m_wire_end.get(), bytes.data(), bytes.size(), MSG_DONTWAIT);
        bytes.resize(length > 0 ? static_cast<size_t>(length) : 0);
        return bytes;
    }
    bool has_frame_from_device()
    {
        uint8_t byte;
        return ::recv(m_wire_end.get(), &byte, 1, MSG_DONTWAIT | MSG_PEEK) >= 0;
    }

private:
    FileDescriptor m_device_end;
    FileDescriptor m_wire_end;
    uint32_t m_offloads { 0xffffffff };
};

// A struct virtio_net_hdr_v1 with `flags` and `gso_type`, the rest zero.
inline std::vector<uint8_t> virtio_header(uint8_t flags, uint8_t gso_type)
{
    std::vector<uint8_t> header(NetDevice::header_size, 0);
    header[0] = flags;
    header[1] = gso_type;
    return header;
}

// `length` bytes that look like an Ethernet frame, different for each `seed`.
inline std::vector<uint8_t> make_frame(size_t length, uint8_t seed)
{
    std::vector<uint8_t> frame(length);
    for (size_t index = 0; index < length; ++index)
        frame[index] = static_cast<uint8_t>(index * 7 + seed * 13 + 1);
    return frame;
}

}
