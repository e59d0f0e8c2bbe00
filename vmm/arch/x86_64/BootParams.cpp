#include "vmm/arch/x86_64/BootParams.h"

#include "vmm/arch/x86_64/Layout.h"
#include "common/Error.h"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

namespace vmm::x86_64 {

namespace {
constexpr uint32_t e820_ram = 1;
constexpr uint32_t e820_reserved = 2;
constexpr uint8_t loader_type_undefined = 0xff;
}

std::vector<boot_e820_entry> build_e820_map(uint64_t memory_size)
{
    std::vector<boot_e820_entry> map;
    map.push_back({ 0, mptable_address, e820_ram });
    map.push_back({ mptable_address, base_memory_end - mptable_address, e820_reserved });
    uint64_t const low_end = std::min(memory_size, mmio_hole_start);
    map.push_back({ high_memory_start, low_end - high_memory_start, e820_ram });
    if (memory_size > mmio_hole_start)
        map.push_back({ high_ram_start, memory_size - mmio_hole_start, e820_ram });
    return map;
}

InitrdPlacement place_initrd(BzImage const& kernel, uint64_t size, uint64_t memory_size)
{
    uint64_t const top = std::min<uint64_t>({ memory_size, mmio_hole_start, uint64_t(kernel.header().initrd_addr_max) + 1 });
    uint64_t const lowest = (kernel.memory_needed() + 0xfff) & ~uint64_t(0xfff);
    if (size > top || ((top - size) & ~uint64_t(0xfff)) < lowest)
        throw Error(fmt::format("the initrd ({} bytes) and the kernel ({} bytes) do not fit in {} MiB of guest memory",
            size, kernel.memory_needed() - kernel_load_address, memory_size >> 20));
    return { (top - size) & ~uint64_t(0xfff), size };
}

boot_params build_boot_params(BzImage const& kernel, uint64_t memory_size, uint64_t cmdline_length,
    std::optional<InitrdPlacement> initrd)
{
    boot_params params {};
    auto header_bytes = kernel.header_bytes();
    std::memcpy(&params.hdr, header_bytes.data(), header_bytes.size());
    params.hdr.type_of_loader = loader_type_undefined;
    params.hdr.loadflags |= CAN_USE_HEAP | KEEP_SEGMENTS;
    params.hdr.heap_end_ptr = 0xfe00 - 0x200;
    params.hdr.cmd_line_ptr = static_cast<uint32_t>(cmdline_address);
    params.hdr.cmdline_size = static_cast<uint32_t>(cmdline_length);
    params.hdr.vid_mode = 0xffff; // "normal": no video mode switch.
    if (initrd) {
        params.hdr.ramdisk_image = static_cast<uint32_t>(initrd->address);
        params.hdr.ramdisk_size = static_cast<uint32_t>(initrd->size);
    }
    auto const map = build_e820_map(memory_size);
    params.e820_entries = static_cast<uint8_t>(map.size());
    std::copy(map.begin(), map.end(), params.e820_table);
    return params;
}

}
