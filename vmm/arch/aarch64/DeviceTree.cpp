#include "vmm/arch/aarch64/DeviceTree.h"

#include "common/Error.h"
#include "vmm/arch/aarch64/Layout.h"

#include <fmt/format.h>
#include <initializer_list>
#include <libfdt.h>

namespace vmm::aarch64 {

namespace {

// The interrupt specifier of the GICv3 binding: type, number, flags.
constexpr uint32_t gic_spi = 0;
constexpr uint32_t gic_ppi = 1;
constexpr uint32_t irq_type_edge_rising = 1;
constexpr uint32_t irq_type_level_high = 4;
constexpr uint32_t gic_maintenance_ppi = 9;
constexpr uint32_t gic_phandle = 1;
// The 8250 driver derives its baud rate divisor from this; vmm's UART ignores it.
constexpr uint32_t serial_clock_frequency = 1843200;

// The sequential-write API, each call checked: an error names the call and
// the node or property it was for.
class FdtWriter {
public:
    explicit FdtWriter(size_t capacity)
        : m_buffer(capacity)
    {
        check(fdt_create(m_buffer.data(), static_cast<int>(m_buffer.size())), "fdt_create", "");
        check(fdt_finish_reservemap(m_buffer.data()), "fdt_finish_reservemap", "");
    }

    void begin_node(std::string const& name) { check(fdt_begin_node(m_buffer.data(), name.c_str()), "fdt_begin_node", name); }
    void end_node() { check(fdt_end_node(m_buffer.data()), "fdt_end_node", ""); }

    void property(char const* name, std::string const& value)
    {
        check(fdt_property_string(m_buffer.data(), name, value.c_str()), "fdt_property_string", name);
    }
    void property_empty(char const* name) { check(fdt_property(m_buffer.data(), name, nullptr, 0), "fdt_property", name); }
    void property_u32(char const* name, uint32_t value) { check(fdt_property_u32(m_buffer.data(), name, value), "fdt_property_u32", name); }
    void property_u64(char const* name, uint64_t value) { check(fdt_property_u64(m_buffer.data(), name, value), "fdt_property_u64", name); }
    // A list of cells, each stored big-endian as the format requires.
    void property_cells(char const* name, std::initializer_list<uint32_t> cells) { property_cells(name, std::vector<uint32_t>(cells)); }
    void property_cells(char const* name, std::vector<uint32_t> const& cells)
    {
        std::vector<fdt32_t> encoded;
        for (auto cell : cells)
            encoded.push_back(cpu_to_fdt32(cell));
        check(fdt_property(m_buffer.data(), name, encoded.data(), static_cast<int>(encoded.size() * sizeof(fdt32_t))), "fdt_property", name);
    }
    // A (base, size) pair with two cells each, as #address-cells = #size-cells = 2 ask.
    void property_reg(std::initializer_list<std::pair<uint64_t, uint64_t>> ranges)
    {
        std::vector<uint32_t> cells;
        for (auto [base, size] : ranges) {
            cells.insert(cells.end(), { static_cast<uint32_t>(base >> 32), static_cast<uint32_t>(base) });
            cells.insert(cells.end(), { static_cast<uint32_t>(size >> 32), static_cast<uint32_t>(size) });
        }
        property_cells("reg", cells);
    }

    std::vector<uint8_t> finish()
    {
        check(fdt_finish(m_buffer.data()), "fdt_finish", "");
        m_buffer.resize(fdt_totalsize(m_buffer.data()));
        // The guest gets nothing libfdt's own full check would refuse.
        check(fdt_check_full(m_buffer.data(), m_buffer.size()), "fdt_check_full", "");
        return std::move(m_buffer);
    }

private:
    static void check(int result, char const* call, std::string const& subject)
    {
        if (result < 0)
            throw Error(fmt::format("device tree: {}{}{}: {}", call, subject.empty() ? "" : " ", subject, fdt_strerror(result)));
    }

    std::vector<uint8_t> m_buffer;
};

std::string node_name(char const* name, uint64_t address)
{
    return fmt::format("{}@{:x}", name, address);
}

void add_cpus(FdtWriter& fdt, std::vector<uint64_t> const& affinities)
{
    fdt.begin_node("cpus");
    fdt.property_u32("#address-cells", 2);
    fdt.property_u32("#size-cells", 0);
    for (auto affinity : affinities) {
        fdt.begin_node(node_name("cpu", affinity));
        fdt.property("device_type", "cpu");
        fdt.property("compatible", "arm,arm-v8");
        // Secondary vCPUs start powered off; the kernel brings them up with PSCI CPU_ON.
        fdt.property("enable-method", "psci");
        fdt.property_cells("reg", { static_cast<uint32_t>(affinity >> 32), static_cast<uint32_t>(affinity) });
        fdt.end_node();
    }
    fdt.end_node();
}

void add_gic(FdtWriter& fdt, uint32_t cpu_count)
{
    fdt.begin_node(node_name("intc", gic_distributor_base));
    fdt.property("compatible", "arm,gic-v3");
    fdt.property_empty("interrupt-controller");
    fdt.property_u32("#interrupt-cells", 3);
    fdt.property_u32("#address-cells", 2);
    fdt.property_u32("#size-cells", 2);
    fdt.property_empty("ranges");
    fdt.property_reg({ { gic_distributor_base, gic_distributor_size },
        { gic_redistributor_base, gic_redistributor_size_per_cpu * cpu_count } });
    fdt.property_cells("interrupts", { gic_ppi, gic_maintenance_ppi, irq_type_level_high });
    fdt.property_u32("phandle", gic_phandle);
    fdt.end_node();
}

void add_timer(FdtWriter& fdt)
{
    fdt.begin_node("timer");
    fdt.property("compatible", "arm,armv8-timer");
    fdt.property_empty("always-on");
    fdt.property_cells("interrupts", {
                                         gic_ppi, timer_secure_ppi, irq_type_level_high,
                                         gic_ppi, timer_non_secure_ppi, irq_type_level_high,
                                         gic_ppi, timer_virtual_ppi, irq_type_level_high,
                                         gic_ppi, timer_hypervisor_ppi, irq_type_level_high,
                                     });
    fdt.end_node();
}

void add_serial(FdtWriter& fdt)
{
    fdt.begin_node(node_name("uart", serial_base));
    fdt.property("compatible", "ns16550a");
    fdt.property_reg({ { serial_base, serial_size } });
    fdt.property_u32("clock-frequency", serial_clock_frequency);
    fdt.property_cells("interrupts", { gic_spi, serial_spi, irq_type_level_high });
    fdt.end_node();
}

void add_virtio_device(FdtWriter& fdt, DeviceTreeVirtioDevice const& device)
{
    fdt.begin_node(node_name("virtio_mmio", device.mmio_base));
    fdt.property("compatible", "virtio,mmio");
    fdt.property_reg({ { device.mmio_base, device.mmio_size } });
    // vmm's irqfd pulses the line once per notification.
    fdt.property_cells("interrupts", { gic_spi, device.spi, irq_type_edge_rising });
    fdt.property_empty("dma-coherent");
    fdt.end_node();
}

void add_chosen(FdtWriter& fdt, DeviceTreeDescription const& description)
{
    fdt.begin_node("chosen");
    fdt.property("bootargs", description.bootargs);
    // Formatted, not `"/" + name`: g++ 12 at -O3 takes that for an
    // overlapping copy (a false -Wrestrict, GCC bug 105329).
    fdt.property("stdout-path", fmt::format("/{}", node_name("uart", serial_base)));
    if (description.initrd) {
        fdt.property_u64("linux,initrd-start", description.initrd->start);
        fdt.property_u64("linux,initrd-end", description.initrd->end);
    }
    fdt.end_node();
}

}

std::vector<uint8_t> build_device_tree(DeviceTreeDescription const& description)
{
    if (description.cpu_affinities.empty() || description.cpu_affinities.size() > max_cpus)
        throw Error(fmt::format("device tree: {} vCPUs; vmm supports 1 to {}", description.cpu_affinities.size(), max_cpus));
    if (description.bootargs.size() >= cmdline_max_size)
        throw Error(fmt::format("device tree: the command line is {} bytes; the kernel accepts at most {}", description.bootargs.size(), cmdline_max_size - 1));

    FdtWriter fdt(device_tree_max_size);
    fdt.begin_node("");
    fdt.property("compatible", "linux,dummy-virt");
    fdt.property("model", "vmm");
    fdt.property_u32("#address-cells", 2);
    fdt.property_u32("#size-cells", 2);
    fdt.property_u32("interrupt-parent", gic_phandle);

    add_cpus(fdt, description.cpu_affinities);
    fdt.begin_node(node_name("memory", description.memory_base));
    fdt.property("device_type", "memory");
    fdt.property_reg({ { description.memory_base, description.memory_size } });
    fdt.end_node();

    // KVM implements PSCI 0.2 (KVM_ARM_VCPU_PSCI_0_2) and takes its calls through HVC.
    fdt.begin_node("psci");
    fdt.property("compatible", "arm,psci-0.2");
    fdt.property("method", "hvc");
    fdt.end_node();

    add_gic(fdt, static_cast<uint32_t>(description.cpu_affinities.size()));
    add_timer(fdt);
    add_serial(fdt);
    for (auto const& device : description.virtio_devices)
        add_virtio_device(fdt, device);
    add_chosen(fdt, description);
    fdt.end_node();
    return fdt.finish();
}

}
