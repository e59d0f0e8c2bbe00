#include "vmm/arch/x86_64/LongMode.h"

#include "vmm/arch/x86_64/Layout.h"

#include <array>

namespace vmm::x86_64 {

namespace {
constexpr uint64_t cr0_pe = 1u << 0;
constexpr uint64_t cr0_et = 1u << 4;
constexpr uint64_t cr0_pg = 1u << 31;
constexpr uint64_t cr4_pae = 1u << 5;
constexpr uint64_t efer_lme = 1u << 8;
constexpr uint64_t efer_lma = 1u << 10;
constexpr uint64_t page_present = 1u << 0;
constexpr uint64_t page_writable = 1u << 1;
constexpr uint64_t page_size_2m = 1u << 7;
constexpr uint64_t page_table_entries = 512;
}

uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
    return ((uint64_t(base) & 0xff000000u) << (56 - 24)) | ((uint64_t(flags) & 0xf0ffu) << 40)
        | ((uint64_t(limit) & 0xf0000u) << (48 - 16)) | ((uint64_t(base) & 0x00ffffffu) << 16) | (uint64_t(limit) & 0xffffu);
}

kvm_segment segment_from_gdt_entry(uint64_t entry, uint16_t selector)
{
    kvm_segment segment {};
    segment.base = ((entry >> 16) & 0xffffff) | (((entry >> 56) & 0xff) << 24);
    uint32_t limit = static_cast<uint32_t>((entry & 0xffff) | (((entry >> 48) & 0xf) << 16));
    segment.g = (entry >> 55) & 1;
    // With the granularity bit the limit counts 4 KiB pages.
    segment.limit = segment.g ? (limit << 12) | 0xfff : limit;
    segment.selector = selector;
    segment.type = (entry >> 40) & 0xf;
    segment.s = (entry >> 44) & 1;
    segment.dpl = (entry >> 45) & 3;
    segment.present = (entry >> 47) & 1;
    segment.avl = (entry >> 52) & 1;
    segment.l = (entry >> 53) & 1;
    segment.db = (entry >> 54) & 1;
    segment.unusable = segment.present ? 0 : 1;
    return segment;
}

void setup_long_mode(GuestMemory const& memory, kvm_sregs& sregs)
{
    std::array<uint64_t, 5> const gdt {
        0,
        0,
        gdt_entry(0xa09b, 0, 0xfffff), // 64-bit code, present, readable.
        gdt_entry(0xc093, 0, 0xfffff), // Flat data, present, writable.
        gdt_entry(0x808b, 0, 0xfffff), // A busy 64-bit TSS, which VMX entry requires.
    };
    for (size_t index = 0; index < gdt.size(); ++index)
        memory.write_object(gdt_address + index * sizeof(uint64_t), gdt[index]);
    memory.write_object<uint64_t>(idt_address, 0);

    memory.write_object<uint64_t>(pml4_address, pdpte_address | page_present | page_writable);
    constexpr uint64_t directories = identity_mapped_size / GiB;
    for (uint64_t directory = 0; directory < directories; ++directory) {
        uint64_t const directory_address = pde_address + directory * 0x1000;
        memory.write_object<uint64_t>(pdpte_address + directory * 8, directory_address | page_present | page_writable);
        for (uint64_t entry = 0; entry < page_table_entries; ++entry) {
            uint64_t const physical = (directory * page_table_entries + entry) << 21;
            memory.write_object<uint64_t>(directory_address + entry * 8, physical | page_present | page_writable | page_size_2m);
        }
    }

    sregs.gdt.base = gdt_address;
    sregs.gdt.limit = static_cast<uint16_t>(gdt.size() * sizeof(uint64_t) - 1);
    sregs.idt.base = idt_address;
    sregs.idt.limit = sizeof(uint64_t) - 1;

    sregs.cs = segment_from_gdt_entry(gdt[2], boot_code_selector);
    kvm_segment const data = segment_from_gdt_entry(gdt[3], boot_data_selector);
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = segment_from_gdt_entry(gdt[4], boot_tss_selector);

    sregs.cr3 = pml4_address;
    sregs.cr4 |= cr4_pae;
    sregs.cr0 |= cr0_pe | cr0_pg | cr0_et;
    sregs.efer |= efer_lme | efer_lma;
}

kvm_regs boot_registers(uint64_t entry, uint64_t zero_page)
{
    kvm_regs regs {};
    regs.rflags = 0x2; // Bit 1 is reserved and always set; interrupts stay off.
    regs.rip = entry;
    regs.rsp = boot_stack_pointer;
    regs.rbp = boot_stack_pointer;
    regs.rsi = zero_page;
    return regs;
}

}
