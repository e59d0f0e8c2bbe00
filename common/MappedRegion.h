#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace vmm {

enum class HugePages {
    No,
    Yes,         // From the hugetlbfs pool (MAP_HUGETLB), reserved at mmap time.
    Transparent, // 2 MiB aligned and advised (MADV_HUGEPAGE): the kernel's transparent huge pages where it has them.
};

// An anonymous private mapping, unmapped when it goes out of scope.
class MappedRegion {
public:
    static MappedRegion anonymous(size_t size, HugePages huge_pages = HugePages::No);

    MappedRegion() = default;
    MappedRegion(MappedRegion&& other) noexcept
        : m_address(std::exchange(other.m_address, nullptr))
        , m_size(std::exchange(other.m_size, 0))
    {
    }
    MappedRegion& operator=(MappedRegion&& other) noexcept;
    MappedRegion(MappedRegion const&) = delete;
    MappedRegion& operator=(MappedRegion const&) = delete;
    ~MappedRegion();

    uint8_t* data() const { return static_cast<uint8_t*>(m_address); }
    size_t size() const { return m_size; }
    std::span<uint8_t> bytes() const { return { data(), m_size }; }

private:
    MappedRegion(void* address, size_t size)
        : m_address(address)
        , m_size(size)
    {
    }

    void* m_address { nullptr };
    size_t m_size { 0 };
};

}
