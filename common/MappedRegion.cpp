#include "common/MappedRegion.h"

#include "common/Error.h"

#include <cerrno>
#include <cstdint>
#include <sys/mman.h>

namespace vmm {

namespace {

constexpr size_t huge_page_size = 2 * 1024 * 1024;

}

MappedRegion MappedRegion::anonymous(size_t size, HugePages huge_pages)
{
    if (huge_pages == HugePages::Transparent) {
        // Over-allocates by a huge page and trims both ends, so that the
        // region starts on a 2 MiB boundary: then guest-physical and host
        // huge pages line up and KVM maps each with one nested page-table
        // entry instead of 512 (one nested page fault, one exit, per 2 MiB
        // the guest touches instead of per 4 KiB).
        void* reserved = ::mmap(nullptr, size + huge_page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (reserved == MAP_FAILED)
            throw_system_error("mmap", "guest memory");
        auto const start = reinterpret_cast<uintptr_t>(reserved);
        uintptr_t const aligned = (start + huge_page_size - 1) & ~(huge_page_size - 1);
        if (aligned > start)
            ::munmap(reserved, aligned - start);
        if (size_t const tail = start + size + huge_page_size - (aligned + size); tail > 0)
            ::munmap(reinterpret_cast<void*>(aligned + size), tail);
        // Where the host's transparent huge pages are set to "madvise" (or
        // "always", which this does not change); "never" leaves 4 KiB pages.
        if (::madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE) != 0 && errno != EINVAL)
            throw_system_error("madvise", "guest memory (MADV_HUGEPAGE)");
        return MappedRegion(reinterpret_cast<void*>(aligned), size);
    }
    // Huge pages are reserved at mmap time (no MAP_NORESERVE), so that a pool
    // too small fails here with ENOMEM instead of a SIGBUS when the guest
    // touches a page; ordinary pages are only committed as the guest uses them.
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
    flags |= huge_pages == HugePages::Yes ? MAP_HUGETLB : MAP_NORESERVE;
    void* address = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (address == MAP_FAILED && huge_pages == HugePages::Yes)
        throw Error(describe_system_error("mmap", "guest memory on huge pages", errno) + " (reserve enough in /proc/sys/vm/nr_hugepages)");
    if (address == MAP_FAILED)
        throw_system_error("mmap", "guest memory");
    return MappedRegion(address, size);
}

MappedRegion& MappedRegion::operator=(MappedRegion&& other) noexcept
{
    if (this != &other) {
        if (m_address)
            ::munmap(m_address, m_size);
        m_address = std::exchange(other.m_address, nullptr);
        m_size = std::exchange(other.m_size, 0);
    }
    return *this;
}

MappedRegion::~MappedRegion()
{
    if (m_address)
        ::munmap(m_address, m_size);
}

}
