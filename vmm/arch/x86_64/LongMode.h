#pragma once

#include "vmm/memory/GuestMemory.h"

#include <cstdint>
#include "vmm/kvm/KvmAbi.h"

namespace vmm::x86_64 {

// Selectors of the boot GDT, as the Linux boot protocol names them.
inline constexpr uint16_t boot_code_selector = 0x10; // __BOOT_CS
inline constexpr uint16_t boot_data_selector = 0x18; // __BOOT_DS
inline constexpr uint16_t boot_tss_selector = 0x20;

// Encodes one GDT descriptor the way the kernel's GDT_ENTRY() macro does:
// `flags` holds the access byte in bits 0-7 and G/DB/L/AVL in bits 12-15.
uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);
// The KVM segment register that loading `selector` for `entry` would give.
kvm_segment segment_from_gdt_entry(uint64_t entry, uint16_t selector);

// Writes the boot GDT, an empty IDT and an identity map of the first 4 GiB
// (2 MiB pages) into guest memory, and fills `sregs` with the long-mode
// state the 64-bit boot protocol expects: paging on, CS a 64-bit code
// segment, DS/ES/SS/FS/GS flat data segments.
void setup_long_mode(GuestMemory const& memory, kvm_sregs& sregs);

// The general-purpose registers at the 64-bit entry: RIP at `entry`, RSI at the zero page.
kvm_regs boot_registers(uint64_t entry, uint64_t zero_page);

}
