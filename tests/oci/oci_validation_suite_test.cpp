// The OCI runtime-tools validation suite against vmm-runc, through
// scripts/oci-validation (which builds it offline with Debian's Go). Skipped,
// with the script's reason, where Go or the suite's sources are missing.

#include "tests/oci/OciTestSupport.h"

namespace oci_test {

// The least number of the suite's checks that pass against vmm-runc.
constexpr int minimum_passed = 1;

TEST(OciValidationSuite, VmmRuncPassesTheRuntimeToolsChecks)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "the validation suite creates containers: it needs root";
    auto result = vmm::testing::run_process({ VMM_SOURCE_DIR "/scripts/oci-validation", VMM_BUILD_DIR, runtime_binary }, 1800);
    if (result.exit_status == 77)
        GTEST_SKIP() << result.output;
    ASSERT_EQ(result.exit_status, 0) << result.output;
    auto line = result.output.substr(result.output.rfind(runtime_binary + ": "));
    int passed = std::stoi(line.substr(runtime_binary.size() + 2));
    std::cout << line;
    EXPECT_GE(passed, minimum_passed) << result.output;
}

}
