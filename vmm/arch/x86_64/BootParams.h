#pragma once

#include "vmm/arch/x86_64/BzImage.h"

#include <asm/bootparam.h>
#include <cstdint>
#include <optional>
#include <vector>

namespace vmm::x86_64 {

struct InitrdPlacement {
    uint64_t address;
    uint64_t size;
};

// The e820 map of a guest with `memory_size` bytes of RAM: base memory below
// the MP table, RAM from 1 MiB to the MMIO hole, and the rest above 4 GiB.
std::vector<boot_e820_entry> build_e820_map(uint64_t memory_size);

// Where an initrd of `size` bytes goes: as high as the kernel allows
// (initrd_addr_max) and below the MMIO hole, above the kernel. Throws an Error
// when it does not fit.
InitrdPlacement place_initrd(BzImage const& kernel, uint64_t size, uint64_t memory_size);

// The zero page (struct boot_params) for the 64-bit boot protocol.
boot_params build_boot_params(BzImage const& kernel, uint64_t memory_size, uint64_t cmdline_length,
    std::optional<InitrdPlacement> initrd);

}
