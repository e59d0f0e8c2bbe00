#include "vmm/arch/x86_64/MpTable.h"

#include "vmm/arch/x86_64/Layout.h"
#include "common/Error.h"

#include <cstring>
#include <fmt/format.h>
#include <numeric>

namespace vmm::x86_64 {

namespace {

// Entry layouts from the MP specification, chapter 4. Packed because the
// spec's fields sit at unaligned offsets.
struct [[gnu::packed]] FloatingPointer {
    char signature[4]; // "_MP_"
    uint32_t configuration_table;
    uint8_t length; // In 16-byte units: 1.
    uint8_t specification_revision;
    uint8_t checksum;
    uint8_t features[5];
};
static_assert(sizeof(FloatingPointer) == 16);

struct [[gnu::packed]] ConfigurationHeader {
    char signature[4]; // "PCMP"
    uint16_t base_table_length;
    uint8_t specification_revision;
    uint8_t checksum;
    char oem_id[8];
    char product_id[12];
    uint32_t oem_table;
    uint16_t oem_table_size;
    uint16_t entry_count;
    uint32_t local_apic_address;
    uint16_t extended_table_length;
    uint8_t extended_table_checksum;
    uint8_t reserved;
};
static_assert(sizeof(ConfigurationHeader) == 44);

struct [[gnu::packed]] ProcessorEntry {
    uint8_t type; // 0
    uint8_t local_apic_id;
    uint8_t local_apic_version;
    uint8_t cpu_flags;
    uint32_t cpu_signature;
    uint32_t feature_flags;
    uint32_t reserved[2];
};
static_assert(sizeof(ProcessorEntry) == 20);

struct [[gnu::packed]] BusEntry {
    uint8_t type; // 1
    uint8_t bus_id;
    char bus_type[6];
};
static_assert(sizeof(BusEntry) == 8);

struct [[gnu::packed]] IoApicEntry {
    uint8_t type; // 2
    uint8_t ioapic_id;
    uint8_t ioapic_version;
    uint8_t flags;
    uint32_t address;
};
static_assert(sizeof(IoApicEntry) == 8);

struct [[gnu::packed]] InterruptEntry {
    uint8_t type; // 3: I/O interrupt, 4: local interrupt.
    uint8_t interrupt_type;
    uint16_t flags;
    uint8_t source_bus;
    uint8_t source_irq;
    uint8_t destination_apic;
    uint8_t destination_pin;
};
static_assert(sizeof(InterruptEntry) == 8);

constexpr uint8_t entry_processor = 0;
constexpr uint8_t entry_bus = 1;
constexpr uint8_t entry_ioapic = 2;
constexpr uint8_t entry_io_interrupt = 3;
constexpr uint8_t entry_local_interrupt = 4;
constexpr uint8_t interrupt_int = 0;
constexpr uint8_t interrupt_nmi = 1;
constexpr uint8_t interrupt_extint = 3;
constexpr uint8_t cpu_enabled = 1;
constexpr uint8_t cpu_bootstrap = 2;
constexpr uint8_t apic_version = 0x14;
constexpr uint8_t ioapic_version = 0x11;
constexpr uint8_t all_local_apics = 0xff;

template<typename T>
void append(std::vector<uint8_t>& table, T const& entry)
{
    auto const* bytes = reinterpret_cast<uint8_t const*>(&entry);
    table.insert(table.end(), bytes, bytes + sizeof(T));
}

uint8_t checksum_of(uint8_t const* bytes, size_t length)
{
    // The bytes of a table, its checksum included, add up to zero.
    return static_cast<uint8_t>(-std::accumulate(bytes, bytes + length, 0u));
}

}

std::vector<uint8_t> build_mptable(uint32_t cpu_count, uint64_t table_address)
{
    if (cpu_count == 0 || cpu_count > 254)
        throw Error(fmt::format("an MP table describes 1 to 254 CPUs, not {}", cpu_count));
    uint8_t const ioapic_id = static_cast<uint8_t>(cpu_count);

    std::vector<uint8_t> table(sizeof(FloatingPointer) + sizeof(ConfigurationHeader));
    uint16_t entries = 0;
    for (uint32_t cpu = 0; cpu < cpu_count; ++cpu) {
        ProcessorEntry processor {};
        processor.type = entry_processor;
        processor.local_apic_id = static_cast<uint8_t>(cpu);
        processor.local_apic_version = apic_version;
        processor.cpu_flags = cpu_enabled | (cpu == 0 ? cpu_bootstrap : 0);
        processor.cpu_signature = 0x600; // Family 6: what KVM's default CPUID reports.
        processor.feature_flags = 0x201; // FPU and APIC present.
        append(table, processor);
        ++entries;
    }
    BusEntry bus { entry_bus, 0, { 'I', 'S', 'A', ' ', ' ', ' ' } };
    append(table, bus);
    ++entries;
    IoApicEntry ioapic { entry_ioapic, ioapic_id, ioapic_version, 1, static_cast<uint32_t>(x86_64::ioapic_address) };
    append(table, ioapic);
    ++entries;
    // ISA interrupts 0-23 go to the same IOAPIC pins, edge triggered, active high (flags 0: bus default).
    for (uint8_t pin = 0; pin < ioapic_pin_count; ++pin) {
        append(table, InterruptEntry { entry_io_interrupt, interrupt_int, 0, 0, pin, ioapic_id, pin });
        ++entries;
    }
    append(table, InterruptEntry { entry_local_interrupt, interrupt_extint, 0, 0, 0, all_local_apics, 0 });
    append(table, InterruptEntry { entry_local_interrupt, interrupt_nmi, 0, 0, 0, all_local_apics, 1 });
    entries += 2;

    uint32_t const header_address = static_cast<uint32_t>(table_address + sizeof(FloatingPointer));
    ConfigurationHeader header {};
    std::memcpy(header.signature, "PCMP", 4);
    header.base_table_length = static_cast<uint16_t>(table.size() - sizeof(FloatingPointer));
    header.specification_revision = 4;
    std::memcpy(header.oem_id, "VMM     ", 8);
    std::memcpy(header.product_id, "MICROVM     ", 12);
    header.entry_count = entries;
    header.local_apic_address = static_cast<uint32_t>(x86_64::lapic_address);
    std::memcpy(table.data() + sizeof(FloatingPointer), &header, sizeof(header));
    table[sizeof(FloatingPointer) + offsetof(ConfigurationHeader, checksum)]
        = checksum_of(table.data() + sizeof(FloatingPointer), header.base_table_length);

    FloatingPointer pointer {};
    std::memcpy(pointer.signature, "_MP_", 4);
    pointer.configuration_table = header_address;
    pointer.length = 1;
    pointer.specification_revision = 4;
    std::memcpy(table.data(), &pointer, sizeof(pointer));
    table[offsetof(FloatingPointer, checksum)] = checksum_of(table.data(), sizeof(FloatingPointer));
    return table;
}

void write_mptable(GuestMemory const& memory, uint32_t cpu_count)
{
    auto const table = build_mptable(cpu_count, mptable_address);
    if (mptable_address + table.size() > base_memory_end)
        throw Error(fmt::format("the MP table for {} CPUs does not fit below 640 KiB", cpu_count));
    memory.write_bytes(mptable_address, table);
}

}
