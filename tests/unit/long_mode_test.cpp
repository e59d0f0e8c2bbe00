// The identity page tables, boot GDT and entry registers of the 64-bit boot protocol.
#include "vmm/arch/x86_64/Layout.h"
#include "vmm/arch/x86_64/LongMode.h"

#include <gtest/gtest.h>

using namespace vmm;
using namespace vmm::x86_64;

TEST(LongMode, GdtEntriesMatchTheKernelsEncoding)
{
    // Values of the kernel's GDT_ENTRY() for its boot segments.
    EXPECT_EQ(gdt_entry(0xa09b, 0, 0xfffff), 0x00af9b000000ffffull);
    EXPECT_EQ(gdt_entry(0xc093, 0, 0xfffff), 0x00cf93000000ffffull);
    EXPECT_EQ(gdt_entry(0x808b, 0, 0xfffff), 0x008f8b000000ffffull);
    EXPECT_EQ(gdt_entry(0x0093, 0x12345678, 0xabcde), 0x120a93345678bcdeull);
}

TEST(LongMode, SegmentsDecodeFromTheirDescriptors)
{
    auto const code = segment_from_gdt_entry(gdt_entry(0xa09b, 0, 0xfffff), boot_code_selector);
    EXPECT_EQ(code.selector, 0x10);
    EXPECT_EQ(code.l, 1);
    EXPECT_EQ(code.db, 0);
    EXPECT_EQ(code.type, 0xb);
    EXPECT_EQ(code.present, 1);
    EXPECT_EQ(code.limit, 0xffffffffu);
    auto const data = segment_from_gdt_entry(gdt_entry(0xc093, 0x1000, 0xff), boot_data_selector);
    EXPECT_EQ(data.base, 0x1000u);
    EXPECT_EQ(data.db, 1);
    EXPECT_EQ(data.l, 0);
    EXPECT_EQ(data.limit, 0xfffffu);
}

TEST(LongMode, IdentityMapCoversFourGigabytesInTwoMegabytePages)
{
    auto memory = GuestMemory::create_flat(2 * MiB);
    kvm_sregs sregs {};
    setup_long_mode(memory, sregs);

    EXPECT_EQ(memory.read_object<uint64_t>(pml4_address), pdpte_address | 3);
    for (uint64_t directory = 0; directory < 4; ++directory)
        EXPECT_EQ(memory.read_object<uint64_t>(pdpte_address + directory * 8), (pde_address + directory * 0x1000) | 3);
    EXPECT_EQ(memory.read_object<uint64_t>(pdpte_address + 4 * 8), 0u) << "nothing past 4 GiB";
    // Walk a few virtual addresses through the tables: each maps to itself.
    for (uint64_t address : { 0ull, 0x100000ull, 0x7fe00000ull, 0xfee00000ull, 0xffffffffull }) {
        uint64_t const pdpte = memory.read_object<uint64_t>(pdpte_address + ((address >> 30) & 511) * 8);
        uint64_t const pde = memory.read_object<uint64_t>((pdpte & ~0xfffull) + ((address >> 21) & 511) * 8);
        EXPECT_TRUE(pde & 0x80) << "2 MiB page";
        EXPECT_EQ((pde & ~0x1fffffull & ~0xfffull) | (address & 0x1fffff), address);
    }

    EXPECT_EQ(sregs.cr3, pml4_address);
    EXPECT_TRUE(sregs.cr0 & 0x80000001);
    EXPECT_TRUE(sregs.cr4 & 0x20);
    EXPECT_EQ(sregs.efer & 0x500, 0x500u);
    EXPECT_EQ(sregs.cs.selector, boot_code_selector);
    EXPECT_EQ(sregs.ds.selector, boot_data_selector);
    EXPECT_EQ(sregs.gdt.base, gdt_address);
    EXPECT_EQ(memory.read_object<uint64_t>(gdt_address + 2 * 8), 0x00af9b000000ffffull);
}

TEST(LongMode, EntryRegistersPointAtTheZeroPage)
{
    auto const regs = boot_registers(0x100200, zero_page_address);
    EXPECT_EQ(regs.rip, 0x100200u);
    EXPECT_EQ(regs.rsi, zero_page_address);
    EXPECT_EQ(regs.rflags, 2u) << "interrupts off";
    EXPECT_EQ(regs.rsp, boot_stack_pointer);
}
