#include "vmm/kvm/VirtualMachine.h"

#include "common/Error.h"

#include <sys/ioctl.h>

namespace vmm::kvm {

VirtualMachine VirtualMachine::create(Kvm const& kvm)
{
    int fd = VMM_IOCTL(kvm.fd(), KVM_CREATE_VM, 0UL);
    return VirtualMachine(FileDescriptor(fd));
}

void VirtualMachine::set_user_memory_region(uint32_t slot, uint64_t guest_address, uint64_t size, void* host_address)
{
    kvm_userspace_memory_region region {};
    region.slot = slot;
    region.guest_phys_addr = guest_address;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<uint64_t>(host_address);
    VMM_IOCTL(m_fd.get(), KVM_SET_USER_MEMORY_REGION, &region);
}

#if defined(__x86_64__)
void VirtualMachine::create_x86_irqchip_and_pit(uint64_t tss_address, uint64_t identity_map_address)
{
    VMM_IOCTL(m_fd.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(tss_address));
    uint64_t identity_map = identity_map_address;
    VMM_IOCTL(m_fd.get(), KVM_SET_IDENTITY_MAP_ADDR, &identity_map);
    VMM_IOCTL(m_fd.get(), KVM_CREATE_IRQCHIP, 0UL);
    kvm_pit_config pit {};
    // The PIT's speaker port 0x61 is emulated in the kernel too.
    pit.flags = KVM_PIT_SPEAKER_DUMMY;
    VMM_IOCTL(m_fd.get(), KVM_CREATE_PIT2, &pit);
}
#endif

#if defined(__aarch64__)
kvm_vcpu_init VirtualMachine::preferred_target() const
{
    kvm_vcpu_init init {};
    VMM_IOCTL(m_fd.get(), KVM_ARM_PREFERRED_TARGET, &init);
    return init;
}
#endif

FileDescriptor VirtualMachine::create_device(uint32_t type, char const* name)
{
    kvm_create_device device {};
    device.type = type;
    if (::ioctl(m_fd.get(), KVM_CREATE_DEVICE, &device) != 0)
        throw_system_error("ioctl KVM_CREATE_DEVICE", name);
    return FileDescriptor(static_cast<int>(device.fd));
}

void VirtualMachine::set_irq_line(uint32_t irq, bool level)
{
    kvm_irq_level irq_level {};
#if defined(__aarch64__)
    // On arm64 the line names the interrupt's type and its GIC INTID; SPIs start at INTID 32.
    irq_level.irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (irq + 32);
#else
    irq_level.irq = irq;
#endif
    irq_level.level = level ? 1 : 0;
    VMM_IOCTL(m_fd.get(), KVM_IRQ_LINE, &irq_level);
}

void VirtualMachine::register_irqfd(int event_fd, uint32_t gsi)
{
    kvm_irqfd irqfd {};
    irqfd.fd = static_cast<uint32_t>(event_fd);
    irqfd.gsi = gsi;
    VMM_IOCTL(m_fd.get(), KVM_IRQFD, &irqfd);
}

void VirtualMachine::register_ioeventfd(int event_fd, uint64_t address, uint32_t length, IoEventSpace space, std::optional<uint64_t> datamatch)
{
    kvm_ioeventfd ioeventfd {};
    ioeventfd.addr = address;
    ioeventfd.len = length;
    ioeventfd.fd = event_fd;
    ioeventfd.flags = space == IoEventSpace::Pio ? KVM_IOEVENTFD_FLAG_PIO : 0;
    if (datamatch) {
        ioeventfd.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
        ioeventfd.datamatch = *datamatch;
    }
    VMM_IOCTL(m_fd.get(), KVM_IOEVENTFD, &ioeventfd);
}

}
