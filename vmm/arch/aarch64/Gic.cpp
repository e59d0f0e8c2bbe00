#include "vmm/arch/aarch64/Gic.h"

#include "common/Error.h"
#include "vmm/arch/aarch64/Layout.h"

#include <fmt/format.h>
#include <sys/ioctl.h>

namespace vmm::aarch64 {

namespace {

void set_attribute(FileDescriptor const& gic, uint32_t group, uint64_t attribute, void const* value, char const* what)
{
    kvm_device_attr attr {};
    attr.group = group;
    attr.attr = attribute;
    attr.addr = reinterpret_cast<uint64_t>(value);
    if (::ioctl(gic.get(), KVM_SET_DEVICE_ATTR, &attr) != 0)
        throw_system_error("ioctl KVM_SET_DEVICE_ATTR", fmt::format("GICv3 {}", what));
}

}

void create_gic_v3(kvm::VirtualMachine& vm)
{
    auto gic = vm.create_device(KVM_DEV_TYPE_ARM_VGIC_V3, "GICv3 (KVM_DEV_TYPE_ARM_VGIC_V3: the host needs a GICv3)");
    uint64_t const distributor = gic_distributor_base;
    uint64_t const redistributor = gic_redistributor_base;
    set_attribute(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &distributor, "distributor address");
    set_attribute(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redistributor, "redistributor address");
    uint32_t const interrupts = gic_interrupt_count;
    set_attribute(gic, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &interrupts, "interrupt count");
    set_attribute(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, nullptr, "initialisation");
    // The GIC lives as long as the VM; its file descriptor is not needed any more.
}

}
