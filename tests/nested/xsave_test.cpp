// The XSAVE state a Linux guest sees on the nested SVM host (scripts/nested-kvm):
// its kernel cross-checks CPUID leaf 0xD against the sizes it computes and,
// when they disagree, dumps the leaf and turns XSAVE off. Skips where the
// nested host is unavailable (the script exits 77).
#include "tests/support/Subprocess.h"

#include <filesystem>
#include <gtest/gtest.h>

using vmm::testing::run_process;

namespace {

constexpr int unavailable_status = 77;

}

TEST(NestedXsave, GuestKernelAcceptsLeafDAndKeepsXsave)
{
    for (auto const* path : { VMM_BUILD_DIR "/vmm", VMM_BUILD_DIR "/guest/bzImage", VMM_BUILD_DIR "/guest/rootfs.ext4" })
        ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing: build vmm and run guest/build-kernel and guest/build-rootfs";
    // dmesg keeps the messages that `quiet` hides from the console; -v says what vmm exposed.
    auto const result = run_process({ VMM_SOURCE_DIR "/scripts/nested-kvm", "--build-dir", VMM_BUILD_DIR, "--timeout", "300", "--", "sh", "-c",
                                        "/vmm -v boot /bzImage /rootfs.ext4,ro -- dmesg 2>&1" },
        400);
    if (result.exit_status == unavailable_status)
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
