#pragma once

#include <string>

namespace vmm {

enum class HostKind {
    HardwareVirtualization, // VMX or SVM: guest kernel and user code run natively.
    Pvm,                    // KVM's PVM: guest kernel code is emulated, guest user system calls fail.
};

// Tells a PVM-based /dev/kvm (the kvm_pvm module, no VMX/SVM in the host's
// CPU flags) from hardware virtualization.
HostKind detect_host_kind();

// Whether `cpuinfo` (the text of /proc/cpuinfo) lists the vmx or svm flag.
bool cpuinfo_has_hardware_virtualization(std::string const& cpuinfo);

// What /dev/kvm is on this host. `vmm host-kind` prints it, so that the
// scripts (scripts/demo, scripts/compare) ask vmm rather than guess apart.
enum class KvmKind {
    Absent,
    Pvm,
    Vmx,
    Svm,
    Arm64, // KVM on an arm64 host (EL2).
};

struct KvmEvidence {
    bool device_exists { false };   // /dev/kvm.
    bool pvm_module_loaded { false }; // /sys/module/kvm_pvm.
    std::string cpuinfo;              // The text of /proc/cpuinfo.
};

KvmKind classify_kvm(KvmEvidence const& evidence);
KvmKind detect_kvm_kind();
// "absent", "pvm", "vmx", "svm" or "arm64".
char const* kvm_kind_name(KvmKind kind);

}
