#include "vmm/kvm/VirtualMachine.h"

#include "vmm/arch/x86_64/Layout.h"
#include "common/Error.h"

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

void VirtualMachine::create_irqchip_and_pit()
{
    VMM_IOCTL(m_fd.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(x86_64::kvm_tss_address));
    uint64_t identity_map = x86_64::kvm_identity_map_address;
    VMM_IOCTL(m_fd.get(), KVM_SET_IDENTITY_MAP_ADDR, &identity_map);
    VMM_IOCTL(m_fd.get(), KVM_CREATE_IRQCHIP, 0UL);
    kvm_pit_config pit {};
    // The PIT's speaker port 0x61 is emulated in the kernel too.
    pit.flags = KVM_PIT_SPEAKER_DUMMY;
    VMM_IOCTL(m_fd.get(), KVM_CREATE_PIT2, &pit);
}

void VirtualMachine::set_irq_line(uint32_t irq, bool level)
{
    kvm_irq_level irq_level {};
    irq_level.irq = irq;
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

void VirtualMachine::register_ioeventfd(int event_fd, uint64_t address, uint32_t length, IoEventSpace space)
{
    kvm_ioeventfd ioeventfd {};
    ioeventfd.addr = address;
    ioeventfd.len = length;
    ioeventfd.fd = event_fd;
    ioeventfd.flags = space == IoEventSpace::Pio ? KVM_IOEVENTFD_FLAG_PIO : 0;
    VMM_IOCTL(m_fd.get(), KVM_IOEVENTFD, &ioeventfd);
}

}
