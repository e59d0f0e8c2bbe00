#include "vmm/devices/virtio/TapDevice.h"

#include "common/Error.h"

#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

namespace vmm::virtio {

namespace {

constexpr char const* tun_path = "/dev/net/tun";
// struct virtio_net_hdr_v1: the header of virtio 1.x, num_buffers included.
constexpr int vnet_header_size = 12;

}

std::shared_ptr<TapDevice> TapDevice::create(std::string const& name_pattern)
{
    if (name_pattern.empty() || name_pattern.size() >= IFNAMSIZ)
        throw Error(fmt::format("TAP name '{}' is not 1 to {} characters", name_pattern, IFNAMSIZ - 1));
    FileDescriptor fd(::open(tun_path, O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fd.is_valid()) {
        if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
            throw Error(fmt::format("{} is missing: a VM's network needs the tun driver (modprobe tun)", tun_path));
        if (errno == EACCES || errno == EPERM)
            throw Error(fmt::format("open {}: {}: --net bridge needs root (CAP_NET_ADMIN)", tun_path, std::strerror(errno)));
        throw_system_error("open", tun_path);
    }
    unsigned int features = 0;
    if (::ioctl(fd.get(), TUNGETFEATURES, &features) != 0)
        throw_system_error("ioctl TUNGETFEATURES", tun_path);
    if (!(features & IFF_VNET_HDR))
        throw Error(fmt::format("{} does not offer IFF_VNET_HDR, which virtio-net needs", tun_path));

    ifreq request {};
    std::strncpy(request.ifr_name, name_pattern.c_str(), IFNAMSIZ - 1);
    request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (::ioctl(fd.get(), TUNSETIFF, &request) != 0) {
        if (errno == EPERM)
            throw Error(fmt::format("ioctl TUNSETIFF {}: {}: --net bridge needs root (CAP_NET_ADMIN)", name_pattern, std::strerror(errno)));
        throw_system_error("ioctl TUNSETIFF", name_pattern);
    }
    std::string const name(request.ifr_name, strnlen(request.ifr_name, IFNAMSIZ));
    int header_size = vnet_header_size;
    if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &header_size) != 0)
        throw_system_error("ioctl TUNSETVNETHDRSZ", name);
    // No offloads until the guest's driver says which it takes.
    if (::ioctl(fd.get(), TUNSETOFFLOAD, 0u) != 0)
        throw_system_error("ioctl TUNSETOFFLOAD", name);
    return std::shared_ptr<TapDevice>(new TapDevice(std::move(fd), name));
}

std::optional<std::string> TapDevice::set_offloads(uint32_t tun_offloads)
{
    if (::ioctl(m_fd.get(), TUNSETOFFLOAD, static_cast<unsigned long>(tun_offloads)) != 0)
        return describe_system_error("ioctl TUNSETOFFLOAD", m_name, errno);
    return std::nullopt;
}

void TapDevice::set_mtu(uint32_t mtu)
{
    FileDescriptor socket(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!socket.is_valid())
        throw_system_error("socket", "AF_INET (to set the MTU of " + m_name + ")");
    ifreq request {};
    std::strncpy(request.ifr_name, m_name.c_str(), IFNAMSIZ - 1);
    request.ifr_mtu = static_cast<int>(mtu);
    if (::ioctl(socket.get(), SIOCSIFMTU, &request) != 0)
        throw_system_error("ioctl SIOCSIFMTU", fmt::format("{} ({})", m_name, mtu));
}

}
