#include "vmm/devices/virtio/VhostNet.h"

#include "common/Error.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
// <linux/virtio_ring.h>, which it includes, has legacy helpers that are C only.
#define VIRTIO_RING_NO_LEGACY
#include <linux/vhost.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <vector>

namespace vmm::virtio {

namespace {

constexpr char const* vhost_path = "/dev/vhost-net";

template<typename Argument>
void vhost_ioctl(int fd, unsigned long request, char const* request_name, Argument argument)
{
    if (::ioctl(fd, request, argument) != 0)
        throw_system_error(fmt::format("ioctl {}", request_name), vhost_path);
}

template<typename Argument>
std::optional<std::string> try_vhost_ioctl(int fd, unsigned long request, char const* request_name, uint16_t queue, Argument argument)
{
    if (::ioctl(fd, request, argument) != 0)
        return describe_system_error(fmt::format("ioctl {}", request_name), fmt::format("{} (queue {})", vhost_path, queue), errno);
    return std::nullopt;
}

}

FileDescriptor VhostNet::open_device()
{
    char const* wanted = std::getenv("VMM_NET_BACKEND");
    if (wanted && std::strcmp(wanted, "user") == 0) {
        spdlog::debug("virtio-net: frames move in vmm's I/O thread (VMM_NET_BACKEND=user)");
        return {};
    }
    FileDescriptor device(::open(vhost_path, O_RDWR | O_CLOEXEC));
    if (!device.is_valid()) {
        // VMM_NET_BACKEND=vhost is for tests that must not fall back unnoticed.
        if (wanted && std::strcmp(wanted, "vhost") == 0)
            throw Error(describe_system_error("open", fmt::format("{} (VMM_NET_BACKEND=vhost)", vhost_path), errno));
        spdlog::debug("virtio-net: no vhost-net ({}); frames move in vmm's I/O thread", describe_system_error("open", vhost_path, errno));
        return {};
    }
    spdlog::debug("virtio-net: frames move in the host kernel (vhost-net)");
    return device;
}

VhostNet::VhostNet(FileDescriptor device, GuestMemory const& memory, int call_fd)
    : m_device(std::move(device))
    , m_call(::fcntl(call_fd, F_DUPFD_CLOEXEC, 0))
{
    if (!m_call.is_valid())
        throw_system_error("fcntl F_DUPFD_CLOEXEC", "virtio-net interrupt eventfd");
    for (auto& kick : m_kicks) {
        kick = FileDescriptor(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!kick.is_valid())
            throw_system_error("eventfd", "vhost-net queue notification");
    }
    vhost_ioctl(m_device.get(), VHOST_SET_OWNER, "VHOST_SET_OWNER", nullptr);
    vhost_ioctl(m_device.get(), VHOST_GET_FEATURES, "VHOST_GET_FEATURES", &m_features);
    // Guest physical ranges and where vmm maps them: vhost reads the rings and buffers there.
    auto const& regions = memory.regions();
    std::vector<uint8_t> table(sizeof(vhost_memory) + regions.size() * sizeof(vhost_memory_region));
    auto* header = reinterpret_cast<vhost_memory*>(table.data());
    header->nregions = static_cast<uint32_t>(regions.size());
    for (size_t index = 0; index < regions.size(); ++index) {
        vhost_memory_region region {};
        region.guest_phys_addr = regions[index].guest_address;
        region.memory_size = regions[index].mapping.size();
        region.userspace_addr = reinterpret_cast<uint64_t>(regions[index].mapping.data());
        std::memcpy(table.data() + sizeof(vhost_memory) + index * sizeof(vhost_memory_region), &region, sizeof(region));
    }
    vhost_ioctl(m_device.get(), VHOST_SET_MEM_TABLE, "VHOST_SET_MEM_TABLE", header);
}

// Closing /dev/vhost-net stops and flushes every ring (vhost_net_release),
// without a system call the confined I/O thread would need at exit.
VhostNet::~VhostNet() = default;

std::optional<std::string> VhostNet::start(uint64_t features, std::span<Virtqueue const> queues, int backend_fd)
{
    if (queues.size() != queue_count)
        return fmt::format("vhost-net serves {} queues, not {}", queue_count, queues.size());
    uint64_t vhost_features = features & m_features;
    if (auto error = try_vhost_ioctl(m_device.get(), VHOST_SET_FEATURES, "VHOST_SET_FEATURES", 0, &vhost_features))
        return error;
    for (uint16_t index = 0; index < queue_count; ++index) {
        auto const& queue = queues[index];
        if (!queue.is_ready())
            return fmt::format("queue {} is not ready at DRIVER_OK; vhost-net needs both", index);
        auto const areas = queue.host_areas();
        vhost_vring_state size { index, queue.size() };
        vhost_vring_state base { index, 0 };
        vhost_vring_addr addresses {};
        addresses.index = index;
        addresses.desc_user_addr = reinterpret_cast<uint64_t>(areas.descriptors);
        addresses.avail_user_addr = reinterpret_cast<uint64_t>(areas.available);
        addresses.used_user_addr = reinterpret_cast<uint64_t>(areas.used);
        vhost_vring_file kick { index, m_kicks[index].get() };
        vhost_vring_file call { index, m_call.get() };
        vhost_vring_file backend { index, backend_fd };
        if (auto error = try_vhost_ioctl(m_device.get(), VHOST_SET_VRING_NUM, "VHOST_SET_VRING_NUM", index, &size))
            return error;
        if (auto error = try_vhost_ioctl(m_device.get(), VHOST_SET_VRING_BASE, "VHOST_SET_VRING_BASE", index, &base))
            return error;
        if (auto error = try_vhost_ioctl(m_device.get(), VHOST_SET_VRING_ADDR, "VHOST_SET_VRING_ADDR", index, &addresses))
            return error;
        if (auto error = try_vhost_ioctl(m_device.get(), VHOST_SET_VRING_KICK, "VHOST_SET_VRING_KICK", index, &kick))
            return error;
        if (auto error = try_vhost_ioctl(m_device.get(), VHOST_SET_VRING_CALL, "VHOST_SET_VRING_CALL", index, &call))
            return error;
        m_started = true;
        if (auto error = try_vhost_ioctl(m_device.get(), VHOST_NET_SET_BACKEND, "VHOST_NET_SET_BACKEND", index, &backend)) {
            stop();
            return error;
        }
    }
    return std::nullopt;
}

void VhostNet::stop()
{
    if (!m_started)
        return;
    m_started = false;
    for (uint16_t index = 0; index < queue_count; ++index) {
        // fd -1 detaches the TAP; vhost finishes the work it has in flight first.
        vhost_vring_file backend { index, -1 };
        if (::ioctl(m_device.get(), VHOST_NET_SET_BACKEND, &backend) != 0)
            spdlog::warn("{}", describe_system_error("ioctl VHOST_NET_SET_BACKEND -1", fmt::format("{} (queue {})", vhost_path, index), errno));
    }
}

}
