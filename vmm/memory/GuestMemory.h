#pragma once

#include "common/MappedRegion.h"

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

namespace vmm {

using GuestAddress = uint64_t;

// One stretch of guest RAM (vmm/arch/Architecture.h says where they go).
struct RamRange {
    GuestAddress start;
    uint64_t size;
};

// The guest's physical memory: one host mapping per range of guest RAM (on
// x86_64, RAM below the 32-bit MMIO hole and, for large guests, the rest
// above 4 GiB; on aarch64, one range from the RAM base). Every access goes
// through a bounds check; nothing outside this class does pointer arithmetic
// on guest memory.
class GuestMemory {
public:
    struct Region {
        GuestAddress guest_address;
        MappedRegion mapping;
    };

    // One host mapping per range, as arch::ram_ranges() lays them out.
    static GuestMemory create(std::span<RamRange const> ranges, HugePages huge_pages = HugePages::No);
    // A single region at `guest_address`, for tests and small test guests.
    static GuestMemory create_flat(uint64_t size, GuestAddress guest_address = 0);

    uint64_t size() const;
    std::vector<Region> const& regions() const { return m_regions; }

    // The host bytes behind [address, address + length), if all of them are
    // guest RAM in one region; std::nullopt otherwise. Use this for anything
    // the guest controls.
    std::optional<std::span<uint8_t>> try_slice(GuestAddress address, uint64_t length) const;
    // As try_slice(), but an out-of-range access throws an Error: use it for
    // addresses vmm itself chose.
    std::span<uint8_t> slice(GuestAddress address, uint64_t length) const;

    bool contains(GuestAddress address, uint64_t length) const { return try_slice(address, length).has_value(); }

    void write_bytes(GuestAddress address, std::span<uint8_t const> bytes) const;
    void read_bytes(GuestAddress address, std::span<uint8_t> bytes) const;

    template<typename T>
    void write_object(GuestAddress address, T const& object) const
    {
        static_assert(std::is_trivially_copyable_v<T>);
        std::memcpy(slice(address, sizeof(T)).data(), &object, sizeof(T));
    }

    template<typename T>
    T read_object(GuestAddress address) const
    {
        static_assert(std::is_trivially_copyable_v<T>);
        T object;
        std::memcpy(&object, slice(address, sizeof(T)).data(), sizeof(T));
        return object;
    }

    // As read_object(), but std::nullopt when the guest gave an address outside RAM.
    template<typename T>
    std::optional<T> try_read_object(GuestAddress address) const
    {
        static_assert(std::is_trivially_copyable_v<T>);
        auto bytes = try_slice(address, sizeof(T));
        if (!bytes)
            return std::nullopt;
        T object;
        std::memcpy(&object, bytes->data(), sizeof(T));
        return object;
    }

private:
    std::vector<Region> m_regions;
};

}
