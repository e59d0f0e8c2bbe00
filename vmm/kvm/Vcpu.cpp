#include "vmm/kvm/Vcpu.h"

#include "common/Error.h"

#include <cerrno>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <vector>

namespace vmm::kvm {

Vcpu Vcpu::create(Kvm const& kvm, VirtualMachine const& vm, uint32_t index)
{
    FileDescriptor fd(VMM_IOCTL(vm.fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(index)));
    size_t const run_size = kvm.vcpu_mmap_size();
    void* run = ::mmap(nullptr, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (run == MAP_FAILED)
        throw_system_error("mmap", "kvm_run of a vCPU");
    return Vcpu(index, std::move(fd), static_cast<kvm_run*>(run), run_size);
}

Vcpu::Vcpu(Vcpu&& other) noexcept
    : m_index(other.m_index)
    , m_fd(std::move(other.m_fd))
    , m_run(std::exchange(other.m_run, nullptr))
    , m_run_size(other.m_run_size)
{
}

Vcpu::~Vcpu()
{
    if (m_run)
        ::munmap(m_run, m_run_size);
}

bool Vcpu::run()
{
    if (::ioctl(m_fd.get(), KVM_RUN, 0) == 0)
        return true;
    if (errno == EINTR || errno == EAGAIN)
        return false;
    throw_system_error("ioctl", "KVM_RUN");
}

#if defined(__x86_64__)
kvm_regs Vcpu::get_registers() const
{
    kvm_regs regs {};
    VMM_IOCTL(m_fd.get(), KVM_GET_REGS, &regs);
    return regs;
}

void Vcpu::set_registers(kvm_regs const& regs)
{
    VMM_IOCTL(m_fd.get(), KVM_SET_REGS, const_cast<kvm_regs*>(&regs));
}

kvm_sregs Vcpu::get_special_registers() const
{
    kvm_sregs sregs {};
    VMM_IOCTL(m_fd.get(), KVM_GET_SREGS, &sregs);
    return sregs;
}

void Vcpu::set_special_registers(kvm_sregs const& sregs)
{
    VMM_IOCTL(m_fd.get(), KVM_SET_SREGS, const_cast<kvm_sregs*>(&sregs));
}

void Vcpu::set_fpu(kvm_fpu const& fpu)
{
    VMM_IOCTL(m_fd.get(), KVM_SET_FPU, const_cast<kvm_fpu*>(&fpu));
}

void Vcpu::set_cpuid(CpuidList const& cpuid)
{
    VMM_IOCTL(m_fd.get(), KVM_SET_CPUID2, const_cast<kvm_cpuid2*>(cpuid.get()));
}

void Vcpu::set_msrs(std::span<kvm_msr_entry const> entries)
{
    // kvm_msrs ends in a flexible array; uint64_t storage keeps it aligned.
    std::vector<uint64_t> storage((sizeof(kvm_msrs) + entries.size_bytes() + 7) / 8);
    auto* msrs = reinterpret_cast<kvm_msrs*>(storage.data());
    msrs->nmsrs = static_cast<uint32_t>(entries.size());
    std::copy(entries.begin(), entries.end(), msrs->entries);
    int const written = VMM_IOCTL(m_fd.get(), KVM_SET_MSRS, msrs);
    if (written != static_cast<int>(entries.size()))
        throw Error("ioctl KVM_SET_MSRS: KVM refused MSR index " + std::to_string(entries[static_cast<size_t>(written)].index));
}

kvm_lapic_state Vcpu::get_lapic() const
{
    kvm_lapic_state lapic {};
    VMM_IOCTL(m_fd.get(), KVM_GET_LAPIC, &lapic);
    return lapic;
}

void Vcpu::set_lapic(kvm_lapic_state const& lapic)
{
    VMM_IOCTL(m_fd.get(), KVM_SET_LAPIC, const_cast<kvm_lapic_state*>(&lapic));
}

kvm_vcpu_events Vcpu::get_events() const
{
    kvm_vcpu_events events {};
    VMM_IOCTL(m_fd.get(), KVM_GET_VCPU_EVENTS, &events);
    return events;
}

void Vcpu::set_events(kvm_vcpu_events const& events)
{
    VMM_IOCTL(m_fd.get(), KVM_SET_VCPU_EVENTS, const_cast<kvm_vcpu_events*>(&events));
}

#elif defined(__aarch64__)
void Vcpu::init(kvm_vcpu_init const& init)
{
    VMM_IOCTL(m_fd.get(), KVM_ARM_VCPU_INIT, const_cast<kvm_vcpu_init*>(&init));
}

uint64_t Vcpu::get_one_register(uint64_t id) const
{
    uint64_t value = 0;
    kvm_one_reg reg { .id = id, .addr = reinterpret_cast<uint64_t>(&value) };
    VMM_IOCTL(m_fd.get(), KVM_GET_ONE_REG, &reg);
    return value;
}

void Vcpu::set_one_register(uint64_t id, uint64_t value)
{
    kvm_one_reg reg { .id = id, .addr = reinterpret_cast<uint64_t>(&value) };
    VMM_IOCTL(m_fd.get(), KVM_SET_ONE_REG, &reg);
}
#endif

}
