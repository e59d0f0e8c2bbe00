// Sizes, guest memory bounds, CPUID topology and host detection.
#include "vmm/arch/x86_64/CpuSetup.h"
#include "common/Error.h"
#include "common/Size.h"
#include "vmm/machine/BootOptions.h"
#include "vmm/machine/HostDetection.h"
#include "vmm/machine/MemoryUsage.h"
#include "vmm/memory/GuestMemory.h"

#include <filesystem>
#include <gtest/gtest.h>
#include <unistd.h>

using namespace vmm;

TEST(Size, ParsesBinaryUnits)
{
    EXPECT_EQ(parse_size("512M", "--mem"), 512ull << 20);
    EXPECT_EQ(parse_size("2G", "--mem"), 2ull << 30);
    EXPECT_EQ(parse_size("2GiB", "--mem"), 2ull << 30);
    EXPECT_EQ(parse_size("64k", "--mem"), 64ull << 10);
    EXPECT_EQ(parse_size("4096", "--mem"), 4096u);
    for (auto bad : { "", "abc", "-1", "12X", "1.5G", "99999999999999999999", "16777216T" })
        EXPECT_THROW(parse_size(bad, "--mem"), Error) << bad;
    try {
        parse_size("lots", "--mem");
        FAIL() << "'lots' was taken as a size";
    } catch (Error const& error) {
        EXPECT_STREQ(error.what(), "--mem: 'lots' is not a size (examples: 512M, 2G, 1048576)");
    }
}

TEST(DiskOption, ParsesReadOnlyFlag)
{
    EXPECT_EQ(parse_disk_option("a.img").access, DiskAccess::ReadWrite);
    auto const disk = parse_disk_option("/x/b.img,ro");
    EXPECT_EQ(disk.path, "/x/b.img");
    EXPECT_EQ(disk.access, DiskAccess::ReadOnly);
    EXPECT_THROW(parse_disk_option("a.img,fast"), Error);
    EXPECT_THROW(parse_disk_option(",ro"), Error);
}

// Commas in a path: the access is the last comma's, and a path that exists
// as given is taken whole.
TEST(DiskOption, PathsMayHoldCommas)
{
    auto const directory = std::filesystem::temp_directory_path() / ("vmm-a,b-" + std::to_string(::getpid()));
    std::filesystem::create_directories(directory / "c,d");
    auto const path = (directory / "c,d").string();
    EXPECT_EQ(parse_disk_option(path).path, path);
    EXPECT_EQ(parse_disk_option(path).access, DiskAccess::ReadWrite);
    auto const read_only = parse_disk_option(path + ",ro");
    EXPECT_EQ(read_only.path, path);
    EXPECT_EQ(read_only.access, DiskAccess::ReadOnly);
    EXPECT_EQ(parse_disk_option("a,b.img,rw").path, "a,b.img");
    EXPECT_THROW(parse_disk_option("/nonexistent/a,b"), UsageError);
    std::filesystem::remove_all(directory);
}

TEST(GuestMemory, BoundsAreCheckedWithoutOverflow)
{
    RamRange const ram[] { { 0, 16 << 20 } };
    auto memory = GuestMemory::create(ram);
    EXPECT_TRUE(memory.contains(0, 16 << 20));
    EXPECT_FALSE(memory.contains(0, (16 << 20) + 1));
    EXPECT_FALSE(memory.contains((16 << 20) - 4, 8));
    EXPECT_FALSE(memory.contains(~0ull - 2, 8)) << "address + length wraps";
    EXPECT_FALSE(memory.try_slice(8, ~0ull).has_value());
    EXPECT_THROW(memory.slice(16 << 20, 1), Error);
    memory.write_object<uint32_t>(0x1000, 0xdeadbeef);
    EXPECT_EQ(memory.read_object<uint32_t>(0x1000), 0xdeadbeefu);
    EXPECT_FALSE(memory.try_read_object<uint64_t>((16 << 20) - 4).has_value());
}

TEST(GuestMemory, LargeGuestsSplitAroundTheMmioHole)
{
    auto memory = GuestMemory::create(arch::ram_ranges(4ull << 30));
    ASSERT_EQ(memory.regions().size(), 2u);
    EXPECT_EQ(memory.regions()[1].guest_address, 4ull << 30);
    EXPECT_EQ(memory.size(), 4ull << 30);
    EXPECT_FALSE(memory.contains(3ull << 30, 1)) << "the hole is not RAM";
    EXPECT_TRUE(memory.contains((5ull << 30) - 1, 1));
}

TEST(Cpuid, EachVcpuGetsItsApicIdAndTheTopology)
{
    kvm::CpuidList supported(4);
    supported.set_count(4);
    auto entries = supported.entries();
    entries[0] = {};
    entries[0].function = 1;
    entries[0].ebx = 0x00000800;
    entries[1] = {};
    entries[1].function = 0xb;
    entries[1].index = 1;
    entries[2] = {};
    entries[2].function = 4;
    entries[2].eax = 3 << 5; // An L3 cache.
    entries[3] = {};
    entries[3].function = 0x80000008;
    auto const cpuid = x86_64::cpuid_for_vcpu(supported, 2, 4);
    ASSERT_EQ(cpuid.entries().size(), 4u);
    EXPECT_EQ(cpuid.entries()[0].ebx >> 24, 2u) << "initial APIC id";
    EXPECT_EQ((cpuid.entries()[0].ebx >> 16) & 0xff, 4u) << "logical processors";
    EXPECT_TRUE(cpuid.entries()[0].ecx & (1u << 31)) << "hypervisor bit";
    EXPECT_EQ(cpuid.entries()[1].edx, 2u) << "x2APIC id";
    EXPECT_EQ(cpuid.entries()[1].ebx, 4u) << "cores at the core level";
    EXPECT_EQ(cpuid.entries()[1].eax, 2u) << "two bits of core id";
    EXPECT_EQ(cpuid.entries()[2].eax >> 26, 3u) << "cores per package - 1";
    EXPECT_EQ((cpuid.entries()[2].eax >> 14) & 0xfff, 3u) << "the L3 is shared by all";
    EXPECT_EQ(cpuid.entries()[3].ecx & 0xff, 3u);
}

TEST(HostDetection, ReadsVirtualizationFlags)
{
    EXPECT_TRUE(cpuinfo_has_hardware_virtualization("processor : 0\nflags : fpu vme vmx sse\n"));
    EXPECT_TRUE(cpuinfo_has_hardware_virtualization("flags\t\t: fpu svm\n"));
    EXPECT_FALSE(cpuinfo_has_hardware_virtualization("flags : fpu vmxx svmx hypervisor\n"));
    EXPECT_FALSE(cpuinfo_has_hardware_virtualization("model name : x\n"));
}

TEST(HostDetection, ClassifiesKvmAsTheScriptsSeeIt)
{
    std::string const intel = "flags : fpu vmx sse\n";
    std::string const amd = "flags : fpu svm sse\n";
    std::string const neither = "flags : fpu sse hypervisor\n";
    EXPECT_EQ(classify_kvm({ .device_exists = false, .pvm_module_loaded = false, .cpuinfo = intel }), KvmKind::Absent);
    EXPECT_EQ(classify_kvm({ .device_exists = true, .pvm_module_loaded = false, .cpuinfo = intel }), KvmKind::Vmx);
    EXPECT_EQ(classify_kvm({ .device_exists = true, .pvm_module_loaded = false, .cpuinfo = amd }), KvmKind::Svm);
    EXPECT_EQ(classify_kvm({ .device_exists = true, .pvm_module_loaded = true, .cpuinfo = intel }), KvmKind::Pvm)
        << "the kvm_pvm module wins over the CPU flags";
    EXPECT_EQ(classify_kvm({ .device_exists = true, .pvm_module_loaded = false, .cpuinfo = neither }), KvmKind::Pvm)
        << "/dev/kvm without VMX or SVM is software-assisted";
    EXPECT_STREQ(kvm_kind_name(KvmKind::Pvm), "pvm");
    EXPECT_STREQ(kvm_kind_name(KvmKind::Absent), "absent");
    EXPECT_STREQ(kvm_kind_name(KvmKind::Vmx), "vmx");
    EXPECT_STREQ(kvm_kind_name(KvmKind::Svm), "svm");
}

TEST(MemoryUsage, SplitsGuestPagesFromTheRest)
{
    std::string const smaps = "55d0c0000000-55d0c0100000 r-xp 00000000 08:01 123 /usr/bin/vmm\n"
                              "Size:               1024 kB\n"
                              "Rss:                 300 kB\n"
                              "Private_Clean:        20 kB\n"
                              "Private_Dirty:         8 kB\n"
                              "7f0000000000-7f0020000000 rw-p 00000000 00:00 0 \n"
                              "Size:             524288 kB\n"
                              "Rss:                2048 kB\n"
                              "Private_Dirty:      2048 kB\n"
                              "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n"
                              "Rss:                  40 kB\n"
                              "Private_Dirty:        40 kB\n";
    auto const usage = parse_smaps(smaps, { { 0x7f0000000000, 0x7f0020000000 } });
    EXPECT_EQ(usage.resident_bytes, (300u + 2048 + 40) * 1024);
    EXPECT_EQ(usage.guest_resident_bytes, 2048u * 1024);
    EXPECT_EQ(usage.overhead_bytes(), 340u * 1024);
    EXPECT_EQ(usage.private_overhead_bytes(), 48u * 1024) << "clean library pages are shared, not vmm's own";
}
