#pragma once

#include "common/FileDescriptor.h"
#include "vmm/kvm/Kvm.h"
#include "vmm/kvm/VirtualMachine.h"

#include <cstdint>
#include "vmm/kvm/KvmAbi.h"
#include <span>
#include <utility>

namespace vmm::kvm {

// One vCPU file descriptor and its shared kvm_run page.
class Vcpu {
public:
    static Vcpu create(Kvm const& kvm, VirtualMachine const& vm, uint32_t index);

    Vcpu(Vcpu&& other) noexcept;
    Vcpu& operator=(Vcpu&&) = delete;
    Vcpu(Vcpu const&) = delete;
    ~Vcpu();

    uint32_t index() const { return m_index; }
    int fd() const { return m_fd.get(); }
    kvm_run& run_state() { return *m_run; }

    // Enters the guest until the next exit. Returns false when KVM_RUN was
    // interrupted by a signal (EINTR/EAGAIN), true for a real exit.
    bool run();

#if defined(__x86_64__)
    kvm_regs get_registers() const;
    void set_registers(kvm_regs const& regs);
    kvm_sregs get_special_registers() const;
    void set_special_registers(kvm_sregs const& sregs);
    void set_fpu(kvm_fpu const& fpu);
    void set_cpuid(CpuidList const& cpuid);
    void set_msrs(std::span<kvm_msr_entry const> entries);
    kvm_lapic_state get_lapic() const;
    void set_lapic(kvm_lapic_state const& lapic);
    kvm_vcpu_events get_events() const;
    void set_events(kvm_vcpu_events const& events);
#elif defined(__aarch64__)
    // KVM_ARM_VCPU_INIT: the CPU model and features (PSCI 0.2, powered off).
    void init(kvm_vcpu_init const& init);
    // One register by its KVM_REG_ARM64 id (KVM_GET_ONE_REG / KVM_SET_ONE_REG).
    uint64_t get_one_register(uint64_t id) const;
    void set_one_register(uint64_t id, uint64_t value);
#endif

private:
    Vcpu(uint32_t index, FileDescriptor fd, kvm_run* run, size_t run_size)
        : m_index(index)
        , m_fd(std::move(fd))
        , m_run(run)
        , m_run_size(run_size)
    {
    }

    uint32_t m_index;
    FileDescriptor m_fd;
    kvm_run* m_run;
    size_t m_run_size;
};

}
