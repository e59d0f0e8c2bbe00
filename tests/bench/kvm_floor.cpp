// The floor for scripts/bench-vmm: a bare program that makes only the KVM
// ioctls a VMM cannot avoid (open, KVM_CREATE_VM, TSS, irqchip, PIT, one
// memory region, the vCPUs with CPUID) and runs a guest that stops at once.
// It prints the same figures as `vmm boot --timings`, measured the same way.
//   kvm-floor [VCPUS]
#include "vmm/kvm/KvmAbi.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

namespace {

auto const start = std::chrono::steady_clock::now();

double elapsed_milliseconds()
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

int checked(int result, char const* what)
{
    if (result < 0) {
        std::perror(what);
        std::exit(1);
    }
    return result;
}

struct Residency {
    long total { 0 };
    long in_guest { 0 };
    long anonymous { 0 };
    long anonymous_in_guest { 0 };
};

// Rss and anonymous memory of the whole process and of the mapping at
// `guest`, from /proc/self/smaps, in KiB: the same split as vmm's --timings.
Residency resident_kilobytes(uintptr_t guest)
{
    std::ifstream file("/proc/self/smaps");
    std::string line;
    Residency residency;
    bool guest_mapping = false;
    auto add = [&](std::string_view name, long& total, long& in_guest) {
        if (!line.starts_with(name))
            return;
        long const kilobytes = std::stol(line.substr(name.size()));
        total += kilobytes;
        in_guest += guest_mapping ? kilobytes : 0;
    };
    while (std::getline(file, line)) {
        if (line.find('-') < line.find(' ') && line.find(':') > line.find('-')) {
            guest_mapping = std::stoull(line.substr(0, line.find('-')), nullptr, 16) == guest;
            continue;
        }
        add("Rss:", residency.total, residency.in_guest);
        add("Anonymous:", residency.anonymous, residency.anonymous_in_guest);
    }
    return residency;
}

}

int main(int argc, char** argv)
{
    int const vcpu_count = argc > 1 ? std::atoi(argv[1]) : 1;
    size_t const memory_size = 512 << 20;
    int const kvm = checked(open("/dev/kvm", O_RDWR | O_CLOEXEC), "open /dev/kvm");
    int const vm = checked(ioctl(kvm, KVM_CREATE_VM, 0), "KVM_CREATE_VM");
    void* memory = mmap(nullptr, memory_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED)
        return checked(-1, "mmap");
    kvm_userspace_memory_region region { 0, 0, 0, memory_size, reinterpret_cast<uint64_t>(memory) };
    checked(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region), "KVM_SET_USER_MEMORY_REGION");
    // The same order as vmm: on some hosts the cost of the first memory region depends on it.
    checked(ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul), "KVM_SET_TSS_ADDR");
    checked(ioctl(vm, KVM_CREATE_IRQCHIP, 0), "KVM_CREATE_IRQCHIP");
    kvm_pit_config pit {};
    checked(ioctl(vm, KVM_CREATE_PIT2, &pit), "KVM_CREATE_PIT2");
    double const vm_created = elapsed_milliseconds();

    // The guest: real mode at 0x1000, "out %al, $0xf4" then hlt.
    uint8_t const code[] = { 0xe6, 0xf4, 0xf4 };
    std::memcpy(static_cast<uint8_t*>(memory) + 0x1000, code, sizeof(code));

    std::vector<uint64_t> cpuid_storage((sizeof(kvm_cpuid2) + 256 * sizeof(kvm_cpuid_entry2)) / 8 + 1);
    auto* cpuid = reinterpret_cast<kvm_cpuid2*>(cpuid_storage.data());
    cpuid->nent = 256;
    checked(ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid), "KVM_GET_SUPPORTED_CPUID");
    long const run_size = checked(ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE");
    std::vector<kvm_run*> runs;
    std::vector<int> vcpus;
    for (int index = 0; index < vcpu_count; ++index) {
        int const vcpu = checked(ioctl(vm, KVM_CREATE_VCPU, index), "KVM_CREATE_VCPU");
        checked(ioctl(vcpu, KVM_SET_CPUID2, cpuid), "KVM_SET_CPUID2");
        runs.push_back(static_cast<kvm_run*>(mmap(nullptr, static_cast<size_t>(run_size), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0)));
        vcpus.push_back(vcpu);
    }
    kvm_sregs sregs {};
    checked(ioctl(vcpus[0], KVM_GET_SREGS, &sregs), "KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    checked(ioctl(vcpus[0], KVM_SET_SREGS, &sregs), "KVM_SET_SREGS");
    kvm_regs regs {};
    regs.rip = 0x1000;
    regs.rflags = 2;
    checked(ioctl(vcpus[0], KVM_SET_REGS, &regs), "KVM_SET_REGS");

    double const first_run = elapsed_milliseconds();
    checked(ioctl(vcpus[0], KVM_RUN, 0), "KVM_RUN");
    double const exited = elapsed_milliseconds();
    if (runs[0]->exit_reason != KVM_EXIT_IO || runs[0]->io.port != 0xf4) {
        std::fprintf(stderr, "kvm-floor: unexpected exit %u\n", runs[0]->exit_reason);
        return 1;
    }
    auto const residency = resident_kilobytes(reinterpret_cast<uintptr_t>(memory));
    std::printf("kvm-floor: timings: vm created %.3f ms, first KVM_RUN %.3f ms, exit %.3f ms\n", vm_created, first_run, exited);
    std::printf("kvm-floor: memory: resident %.1f MiB, guest pages %.1f MiB, overhead %.2f MiB (anonymous %.2f MiB)\n", residency.total / 1024.0,
        residency.in_guest / 1024.0, (residency.total - residency.in_guest) / 1024.0, (residency.anonymous - residency.anonymous_in_guest) / 1024.0);
    return 0;
}
