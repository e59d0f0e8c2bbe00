// What --timings reports as vmm's own memory: smaps split into guest pages,
// anonymous memory and pages of files (which a RAM file system shows as dirty).
#include "vmm/machine/MemoryUsage.h"

#include <gtest/gtest.h>

using namespace vmm;

TEST(MemoryUsage, AnonymousMemoryLeavesOutLibraryPagesOnARamFileSystem)
{
    // As in the nested host, where /vmm and the libraries lie in the
    // initramfs: their pages are private dirty but they are page cache.
    std::string const smaps = "55d097d29000-55d097da5000 r-xp 0000e000 00:02 43 /vmm\n"
                              "Rss:                 496 kB\n"
                              "Private_Dirty:       496 kB\n"
                              "Anonymous:             0 kB\n"
                              "55d097dc7000-55d097dc8000 rw-p 000ab000 00:02 43 /vmm\n"
                              "Rss:                   4 kB\n"
                              "Private_Dirty:         4 kB\n"
                              "Anonymous:             4 kB\n"
                              "55d0a68c2000-55d0a68e3000 rw-p 00000000 00:00 0 [heap]\n"
                              "Rss:                  64 kB\n"
                              "Private_Dirty:        64 kB\n"
                              "Anonymous:            64 kB\n"
                              "AnonHugePages:         0 kB\n"
                              "7fd9c060b000-7fd9e060b000 rw-p 00000000 00:00 0 \n"
                              "Rss:               33856 kB\n"
                              "Private_Dirty:     33856 kB\n"
                              "Anonymous:         33856 kB\n";
    auto const usage = parse_smaps(smaps, { { 0x7fd9c060b000, 0x7fd9e060b000 } });
    EXPECT_EQ(usage.private_overhead_bytes(), (496u + 4 + 64) * 1024);
    EXPECT_EQ(usage.anonymous_overhead_bytes(), (4u + 64) * 1024) << "the binary's text is not vmm's own memory";
    EXPECT_EQ(usage.guest_anonymous_bytes, 33856u * 1024);
}

TEST(MemoryUsage, HugePagesOfGuestMemoryCountAsGuestPages)
{
    // --hugepages: smaps reports hugetlbfs pages apart from Rss.
    std::string const smaps = "7f4000000000-7f4020000000 rw-p 00000000 00:0f 1234 /anon_hugepage (deleted)\n"
                              "Rss:                   0 kB\n"
                              "Private_Dirty:         0 kB\n"
                              "Anonymous:             0 kB\n"
                              "Shared_Hugetlb:        0 kB\n"
                              "Private_Hugetlb:   36864 kB\n"
                              "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n"
                              "Rss:                  40 kB\n"
                              "Private_Dirty:        40 kB\n"
                              "Anonymous:            40 kB\n";
    auto const usage = parse_smaps(smaps, { { 0x7f4000000000, 0x7f4020000000 } });
    EXPECT_EQ(usage.guest_resident_bytes, 36864u * 1024);
    EXPECT_EQ(usage.overhead_bytes(), 40u * 1024);
    EXPECT_EQ(usage.anonymous_overhead_bytes(), 40u * 1024);
}
