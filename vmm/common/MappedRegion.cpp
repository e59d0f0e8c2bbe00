#include "common/MappedRegion.h"

#include "common/Error.h"

#include <sys/mman.h>

namespace vmm {

MappedRegion MappedRegion::anonymous(size_t size, HugePages huge_pages)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    if (huge_pages == HugePages::Yes)
        flags |= MAP_HUGETLB;
    void* address = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (address == MAP_FAILED)
        throw_system_error("mmap", huge_pages == HugePages::Yes ? "guest memory (hugepages)" : "guest memory");
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
