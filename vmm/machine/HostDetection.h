#pragma once

#include "machine/KernelCmdline.h"

#include <string>

namespace vmm {

// Tells a PVM-based /dev/kvm (the kvm_pvm module, no VMX/SVM in the host's
// CPU flags) from hardware virtualization.
HostKind detect_host_kind();

// Whether `cpuinfo` (the text of /proc/cpuinfo) lists the vmx or svm flag.
bool cpuinfo_has_hardware_virtualization(std::string const& cpuinfo);

}
