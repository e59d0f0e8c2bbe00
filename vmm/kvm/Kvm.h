#pragma once

#include "common/FileDescriptor.h"

#include <cstddef>
#include "vmm/kvm/KvmAbi.h"

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace vmm::kvm {

#if defined(__x86_64__)
// Owns a kvm_cpuid2 with room for `entries` entries.
class CpuidList {
public:
    explicit CpuidList(size_t capacity = 256);
    kvm_cpuid2* get() { return reinterpret_cast<kvm_cpuid2*>(m_storage.data()); }
    kvm_cpuid2 const* get() const { return reinterpret_cast<kvm_cpuid2 const*>(m_storage.data()); }
    std::span<kvm_cpuid_entry2> entries() { return { get()->entries, get()->nent }; }
    std::span<kvm_cpuid_entry2 const> entries() const { return { get()->entries, get()->nent }; }
    void set_count(size_t count) { get()->nent = static_cast<uint32_t>(count); }
    size_t capacity() const { return m_capacity; }

private:
    size_t m_capacity;
    // uint64_t storage keeps the header and entries naturally aligned.
    std::vector<uint64_t> m_storage;
};
#endif

// The /dev/kvm system file descriptor.
class Kvm {
public:
    static Kvm open(char const* path = "/dev/kvm");

    int fd() const { return m_fd.get(); }
    int check_extension(long capability) const;
    size_t vcpu_mmap_size() const;
#if defined(__x86_64__)
    CpuidList supported_cpuid() const;
#endif

private:
    explicit Kvm(FileDescriptor fd)
        : m_fd(std::move(fd))
    {
    }
    FileDescriptor m_fd;
};

// Runs an ioctl and throws an Error naming it on failure.
int checked_ioctl(int fd, unsigned long request, void* argument, char const* request_name);
int checked_ioctl(int fd, unsigned long request, unsigned long argument, char const* request_name);

#define VMM_IOCTL(fd, request, argument) ::vmm::kvm::checked_ioctl((fd), (request), (argument), #request)

}
