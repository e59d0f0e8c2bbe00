#include "common/MappedRegion.h"

#include "common/Error.h"

#include <sys/mman.h>

namespace vmm {

MappedRegion MappedRegion::anonymous(size_t size, HugePages huge_pages)
{
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
