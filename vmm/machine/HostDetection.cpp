#include "vmm/machine/HostDetection.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace vmm {

namespace {

bool cpuinfo_has_flag(std::string const& cpuinfo, std::string_view flag)
{
    std::istringstream lines(cpuinfo);
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.starts_with("flags"))
            continue;
        std::istringstream words(line.substr(line.find(':') + 1));
        std::string word;
        while (words >> word) {
            if (word == flag)
                return true;
        }
        return false;
    }
    return false;
}

bool path_exists(char const* path)
{
    std::error_code error;
    return std::filesystem::exists(path, error);
}

std::string read_cpuinfo()
{
    std::ifstream file("/proc/cpuinfo");
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

HostKind host_kind_from(KvmEvidence const& evidence)
{
    if (evidence.pvm_module_loaded)
        return HostKind::Pvm;
    // /dev/kvm without VMX or SVM can only be a software-assisted KVM such as PVM.
    return cpuinfo_has_hardware_virtualization(evidence.cpuinfo) ? HostKind::HardwareVirtualization : HostKind::Pvm;
}

}

bool cpuinfo_has_hardware_virtualization(std::string const& cpuinfo)
{
    return cpuinfo_has_flag(cpuinfo, "vmx") || cpuinfo_has_flag(cpuinfo, "svm");
}

HostKind detect_host_kind()
{
#if defined(__aarch64__)
    // PVM is x86 only; arm64 KVM runs guests with the CPU's own EL2.
    return HostKind::HardwareVirtualization;
#endif
    // The module alone answers on a PVM host; /proc/cpuinfo is read only without it.
    if (path_exists("/sys/module/kvm_pvm"))
        return HostKind::Pvm;
    return host_kind_from({ .device_exists = true, .pvm_module_loaded = false, .cpuinfo = read_cpuinfo() });
}

KvmKind classify_kvm(KvmEvidence const& evidence)
{
    if (!evidence.device_exists)
        return KvmKind::Absent;
    if (host_kind_from(evidence) == HostKind::Pvm)
        return KvmKind::Pvm;
    return cpuinfo_has_flag(evidence.cpuinfo, "vmx") ? KvmKind::Vmx : KvmKind::Svm;
}

KvmKind detect_kvm_kind()
{
#if defined(__aarch64__)
    return path_exists("/dev/kvm") ? KvmKind::Arm64 : KvmKind::Absent;
#endif
    return classify_kvm({ .device_exists = path_exists("/dev/kvm"), .pvm_module_loaded = path_exists("/sys/module/kvm_pvm"), .cpuinfo = read_cpuinfo() });
}

char const* kvm_kind_name(KvmKind kind)
{
    // In the order of KvmKind.
    constexpr char const* names[] = { "absent", "pvm", "vmx", "svm", "arm64" };
    return names[static_cast<size_t>(kind)];
}

}
