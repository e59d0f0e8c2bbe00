// The aarch64 device tree, read back with libfdt as the guest kernel reads it:
// memory, vCPUs, PSCI, GICv3, timer, UART, one virtio,mmio node per device,
// /chosen. Builds and runs on any host (no KVM).
#include "common/Error.h"
#include "vmm/arch/aarch64/DeviceTree.h"
#include "vmm/arch/aarch64/Layout.h"

#include <gtest/gtest.h>
#include <libfdt.h>
#include <string>
#include <vector>

using namespace vmm;
using namespace vmm::aarch64;

namespace {

DeviceTreeDescription two_cpus_two_disks()
{
    DeviceTreeDescription description;
    description.memory_base = ram_base;
    description.memory_size = 512 * MiB;
    description.cpu_affinities = { 0, 1 };
    description.bootargs = "panic=1 console=ttyS0 vmm.mode=vm";
    description.initrd = DeviceTreeInitrd { 0x5f000000, 0x5f100000 };
    description.virtio_devices = { { virtio_mmio_base, virtio_mmio_slot_size, virtio_first_spi },
        { virtio_mmio_base + virtio_mmio_slot_size, virtio_mmio_slot_size, virtio_first_spi + 1 } };
    return description;
}

std::string string_property(void const* fdt, char const* path, char const* name)
{
    int const node = fdt_path_offset(fdt, path);
    if (node < 0)
        return "<no node " + std::string(path) + ">";
    int length = 0;
    auto const* value = static_cast<char const*>(fdt_getprop(fdt, node, name, &length));
    if (!value || length <= 0)
        return "<no property " + std::string(name) + ">";
    return std::string(value, static_cast<size_t>(length) - 1);
}

std::vector<uint32_t> cells(void const* fdt, int node, char const* name)
{
    int length = 0;
    auto const* value = static_cast<fdt32_t const*>(fdt_getprop(fdt, node, name, &length));
    std::vector<uint32_t> result;
    for (int index = 0; value && index < length / 4; ++index)
        result.push_back(fdt32_to_cpu(value[index]));
    return result;
}

uint64_t u64_property(void const* fdt, char const* path, char const* name)
{
    auto const values = cells(fdt, fdt_path_offset(fdt, path), name);
    return values.size() == 2 ? (uint64_t(values[0]) << 32) | values[1] : 0;
}

}

TEST(DeviceTree, PassesLibfdtsFullCheck)
{
    auto const blob = build_device_tree(two_cpus_two_disks());
    ASSERT_GE(blob.size(), 64u);
    EXPECT_EQ(fdt_check_full(blob.data(), blob.size()), 0);
    EXPECT_EQ(fdt_totalsize(blob.data()), blob.size());
    EXPECT_LE(blob.size(), device_tree_max_size);
}

TEST(DeviceTree, DescribesMemoryAndEveryVcpu)
{
    auto const blob = build_device_tree(two_cpus_two_disks());
    void const* fdt = blob.data();
    int const memory = fdt_path_offset(fdt, "/memory@40000000");
    ASSERT_GE(memory, 0);
    EXPECT_EQ(string_property(fdt, "/memory@40000000", "device_type"), "memory");
    EXPECT_EQ(cells(fdt, memory, "reg"), (std::vector<uint32_t> { 0, 0x40000000, 0, 512u << 20 }));

    int const cpus = fdt_path_offset(fdt, "/cpus");
    ASSERT_GE(cpus, 0);
    int count = 0;
    int node = 0;
    fdt_for_each_subnode(node, fdt, cpus)
    {
        EXPECT_EQ(cells(fdt, node, "reg"), (std::vector<uint32_t> { 0, static_cast<uint32_t>(count) }));
        int length = 0;
        auto const* method = static_cast<char const*>(fdt_getprop(fdt, node, "enable-method", &length));
        ASSERT_NE(method, nullptr);
        EXPECT_STREQ(method, "psci");
        ++count;
    }
    EXPECT_EQ(count, 2);
    EXPECT_EQ(string_property(fdt, "/psci", "compatible"), "arm,psci-0.2");
    EXPECT_EQ(string_property(fdt, "/psci", "method"), "hvc");
}

TEST(DeviceTree, GicTimerAndSerialConsole)
{
    auto const blob = build_device_tree(two_cpus_two_disks());
    void const* fdt = blob.data();
    int const gic = fdt_path_offset(fdt, "/intc@8000000");
    ASSERT_GE(gic, 0);
    EXPECT_EQ(string_property(fdt, "/intc@8000000", "compatible"), "arm,gic-v3");
    EXPECT_NE(fdt_getprop(fdt, gic, "interrupt-controller", nullptr), nullptr);
    EXPECT_EQ(cells(fdt, gic, "#interrupt-cells"), std::vector<uint32_t> { 3 });
    EXPECT_EQ(cells(fdt, gic, "reg"),
        (std::vector<uint32_t> { 0, 0x08000000, 0, 0x10000, 0, 0x080a0000, 0, 2 * 0x20000 }))
        << "one redistributor per vCPU";
    uint32_t const phandle = fdt_get_phandle(fdt, gic);
    ASSERT_NE(phandle, 0u);
    EXPECT_EQ(cells(fdt, 0, "interrupt-parent"), std::vector<uint32_t> { phandle });

    int const timer = fdt_path_offset(fdt, "/timer");
    ASSERT_GE(timer, 0);
    EXPECT_EQ(string_property(fdt, "/timer", "compatible"), "arm,armv8-timer");
    EXPECT_EQ(cells(fdt, timer, "interrupts").size(), 12u) << "four PPIs of three cells";

    int const uart = fdt_path_offset(fdt, "/uart@9000000");
    ASSERT_GE(uart, 0);
    EXPECT_EQ(string_property(fdt, "/uart@9000000", "compatible"), "ns16550a");
    EXPECT_EQ(cells(fdt, uart, "interrupts"), (std::vector<uint32_t> { 0, serial_spi, 4 }));
}

TEST(DeviceTree, OneVirtioNodePerDeviceWithItsSpi)
{
    auto const blob = build_device_tree(two_cpus_two_disks());
    void const* fdt = blob.data();
    std::vector<uint32_t> spis;
    for (int node = fdt_node_offset_by_compatible(fdt, -1, "virtio,mmio"); node >= 0;
         node = fdt_node_offset_by_compatible(fdt, node, "virtio,mmio")) {
        auto const interrupts = cells(fdt, node, "interrupts");
        ASSERT_EQ(interrupts.size(), 3u);
        EXPECT_EQ(interrupts[0], 0u) << "an SPI";
        spis.push_back(interrupts[1]);
    }
    EXPECT_EQ(spis, (std::vector<uint32_t> { virtio_first_spi, virtio_first_spi + 1 }));
    EXPECT_GE(fdt_path_offset(fdt, "/virtio_mmio@a001000"), 0);

    auto description = two_cpus_two_disks();
    description.virtio_devices.clear();
    auto const none = build_device_tree(description);
    EXPECT_LT(fdt_node_offset_by_compatible(none.data(), -1, "virtio,mmio"), 0);
}

TEST(DeviceTree, ChosenHasBootargsStdoutAndInitrd)
{
    auto const blob = build_device_tree(two_cpus_two_disks());
    void const* fdt = blob.data();
    EXPECT_EQ(string_property(fdt, "/chosen", "bootargs"), "panic=1 console=ttyS0 vmm.mode=vm");
    EXPECT_EQ(string_property(fdt, "/chosen", "stdout-path"), "/uart@9000000");
    EXPECT_EQ(u64_property(fdt, "/chosen", "linux,initrd-start"), 0x5f000000u);
    EXPECT_EQ(u64_property(fdt, "/chosen", "linux,initrd-end"), 0x5f100000u);

    auto description = two_cpus_two_disks();
    description.initrd.reset();
    auto const without = build_device_tree(description);
    EXPECT_EQ(fdt_getprop(without.data(), fdt_path_offset(without.data(), "/chosen"), "linux,initrd-start", nullptr), nullptr);
}

TEST(DeviceTree, RefusesWhatTheGuestCouldNotUse)
{
    auto description = two_cpus_two_disks();
    description.cpu_affinities.clear();
    EXPECT_THROW(build_device_tree(description), Error);
    description = two_cpus_two_disks();
    description.cpu_affinities.assign(max_cpus + 1, 0);
    EXPECT_THROW(build_device_tree(description), Error);
    description = two_cpus_two_disks();
    description.bootargs.assign(cmdline_max_size, 'x');
    EXPECT_THROW(build_device_tree(description), Error);
}
