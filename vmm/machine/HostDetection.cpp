#include "machine/HostDetection.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace vmm {

bool cpuinfo_has_hardware_virtualization(std::string const& cpuinfo)
{
    std::istringstream lines(cpuinfo);
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.starts_with("flags"))
            continue;
        std::istringstream words(line.substr(line.find(':') + 1));
        std::string word;
        while (words >> word) {
            if (word == "vmx" || word == "svm")
                return true;
        }
        return false;
    }
    return false;
}

HostKind detect_host_kind()
{
    std::error_code error;
    if (std::filesystem::exists("/sys/module/kvm_pvm", error))
        return HostKind::Pvm;
    std::ifstream file("/proc/cpuinfo");
    std::stringstream text;
    text << file.rdbuf();
    // /dev/kvm without VMX or SVM can only be a software-assisted KVM such as PVM.
    return cpuinfo_has_hardware_virtualization(text.str()) ? HostKind::HardwareVirtualization : HostKind::Pvm;
}

}
