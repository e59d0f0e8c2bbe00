#include "vmm/kvm/Kvm.h"

#include "common/Error.h"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/ioctl.h>

namespace vmm::kvm {

#if defined(__x86_64__)
CpuidList::CpuidList(size_t capacity)
    : m_capacity(capacity)
    , m_storage((sizeof(kvm_cpuid2) + capacity * sizeof(kvm_cpuid_entry2) + sizeof(uint64_t) - 1) / sizeof(uint64_t))
{
    get()->nent = static_cast<uint32_t>(capacity);
}
#endif

int checked_ioctl(int fd, unsigned long request, void* argument, char const* request_name)
{
    int result;
    do {
        result = ::ioctl(fd, request, argument);
    } while (result < 0 && errno == EINTR);
    if (result < 0)
        throw_system_error("ioctl", request_name);
    return result;
}

int checked_ioctl(int fd, unsigned long request, unsigned long argument, char const* request_name)
{
    return checked_ioctl(fd, request, reinterpret_cast<void*>(argument), request_name);
}

Kvm Kvm::open(char const* path)
{
    int fd = ::open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            throw Error(fmt::format("{} does not exist: this host has no KVM (load kvm-intel or kvm-amd, or run vmm --container)", path));
        throw_system_error("open", path);
    }
    Kvm kvm { FileDescriptor(fd) };
    int version = VMM_IOCTL(kvm.fd(), KVM_GET_API_VERSION, 0UL);
    if (version != KVM_API_VERSION)
        throw Error(fmt::format("{}: KVM API version {} is not the expected {}", path, version, KVM_API_VERSION));
    for (auto [capability, name] : { std::pair { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" }, { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
             { KVM_CAP_IRQFD, "KVM_CAP_IRQFD" }, { KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
#if defined(__x86_64__)
             { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
#elif defined(__aarch64__)
             { KVM_CAP_ARM_PSCI_0_2, "KVM_CAP_ARM_PSCI_0_2" }, { KVM_CAP_DEVICE_CTRL, "KVM_CAP_DEVICE_CTRL" },
#endif
         }) {
        if (kvm.check_extension(capability) <= 0)
            throw Error(fmt::format("{}: the host's KVM lacks {}", path, name));
    }
    return kvm;
}

int Kvm::check_extension(long capability) const
{
    return VMM_IOCTL(m_fd.get(), KVM_CHECK_EXTENSION, static_cast<unsigned long>(capability));
}

size_t Kvm::vcpu_mmap_size() const
{
    return static_cast<size_t>(VMM_IOCTL(m_fd.get(), KVM_GET_VCPU_MMAP_SIZE, 0UL));
}

#if defined(__x86_64__)
CpuidList Kvm::supported_cpuid() const
{
    CpuidList list;
    VMM_IOCTL(m_fd.get(), KVM_GET_SUPPORTED_CPUID, list.get());
    return list;
}
#endif

}
