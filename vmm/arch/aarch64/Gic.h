#pragma once

#include "vmm/kvm/VirtualMachine.h"

#include <cstdint>

namespace vmm::aarch64 {

// Creates the in-kernel GICv3 (KVM_DEV_TYPE_ARM_VGIC_V3) with its
// distributor and one redistributor per vCPU where aarch64/Layout.h puts
// them, and initialises it. Call it after every vCPU has been created.
void create_gic_v3(kvm::VirtualMachine& vm);

}
