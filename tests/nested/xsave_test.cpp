// The XSAVE state a Linux guest sees on the nested SVM host (scripts/nested-kvm):
// its kernel cross-checks CPUID leaf 0xD against the sizes it computes and,
// when they disagree, dumps the leaf and turns XSAVE off. Skips where the
// nested host is unavailable (the script exits 77).
#include "tests/support/NestedHost.h"

#include <gtest/gtest.h>

using vmm::testing::guest_build_is_complete;
using vmm::testing::nested_unavailable_status;
using vmm::testing::run_nested;

TEST(NestedXsave, GuestKernelAcceptsLeafDAndKeepsXsave)
{
    ASSERT_TRUE(guest_build_is_complete());
    // dmesg keeps the messages that `quiet` hides from the console; -v says what vmm exposed.
    auto const result = run_nested({ .command = { "sh", "-c", "/vmm -v boot /bzImage /rootfs.ext4,ro -- dmesg 2>&1" } });
    if (result.exit_status == nested_unavailable_status)
        GTEST_SKIP() << "nested SVM KVM host unavailable: " << result.output;
    ASSERT_EQ(result.exit_status, 0) << result.output;
    EXPECT_EQ(result.output.find("CPUID[0d, 00]"), std::string::npos) << "the kernel dumped leaf 0xD:\n" << result.output;
    EXPECT_EQ(result.output.find("XSAVE consistency"), std::string::npos) << result.output;
    bool const xsave_exposed = result.output.find("vmm: cpuid: XSAVE with XCR0 components") != std::string::npos;
    if (xsave_exposed)
        EXPECT_NE(result.output.find("x86/fpu: Enabled xstate features"), std::string::npos) << "XSAVE was turned off:\n" << result.output;
    else
        EXPECT_NE(result.output.find("vmm: cpuid: XSAVE hidden: "), std::string::npos) << "-v names why XSAVE is hidden:\n" << result.output;
}
