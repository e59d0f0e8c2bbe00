// The aarch64 cross build's unit tests, from the host's build: scripts/build-aarch64
// builds tests/{arch,unit,virtio,network,guest} for arm64 (the target
// emulated_tests), and the cross build's own ctest runs them under qemu-aarch64
// in user mode (CMAKE_CROSSCOMPILING_EMULATOR, cmake/aarch64-linux-gnu.cmake).
// Skips with the reason where the cross build is unavailable (a missing arm64
// package or a failed download: build-aarch64/build-status says which) or was
// never made; fails where it failed to build or where one of its tests fails.
#include "tests/support/Subprocess.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <iostream>
#include <regex>

using vmm::testing::run_process;

namespace {

std::string aarch64_build_dir()
{
    char const* given = std::getenv("VMM_AARCH64_BUILD_DIR");
    return given ? given : VMM_SOURCE_DIR "/build-aarch64";
}

std::string first_line_of(std::string const& path)
{
    std::ifstream file(path);
    std::string line;
    std::getline(file, line);
    return line;
}

}

TEST(Aarch64UnitTests, PassUnderQemuUserMode)
{
#if defined(__aarch64__)
    GTEST_SKIP() << "an aarch64 host: its unit tests run natively in this build";
#endif
    auto const build_dir = aarch64_build_dir();
    auto const status = first_line_of(build_dir + "/build-status");
    if (status.empty())
        GTEST_SKIP() << build_dir << " has not been built (scripts/build-aarch64; scripts/test runs it)";
    if (status.starts_with("unavailable: "))
        GTEST_SKIP() << "the aarch64 cross build is unavailable: " << status.substr(13);
    ASSERT_EQ(status, "ok") << build_dir << "/build-status: the aarch64 cross build " << status;

    auto const result = run_process({ "ctest", "--test-dir", build_dir, "--output-on-failure", "-j2", "--timeout", "120" }, 1200);
    std::cout << result.output << std::endl;
    EXPECT_EQ(result.exit_status, 0) << result.output;
    // A summary that counts every case the cross build registered: none lost
    // to a binary that was not built, and enough that the folders ran.
    std::smatch summary;
    ASSERT_TRUE(std::regex_search(result.output, summary, std::regex("(\\d+)% tests passed, (\\d+) tests failed out of (\\d+)")))
        << result.output;
    EXPECT_EQ(summary[2], "0") << result.output;
    EXPECT_GE(std::stoi(summary[3]), 150) << "fewer cases than tests/{arch,unit,virtio,network,guest} hold\n" << result.output;
    EXPECT_EQ(result.output.find("_NOT_BUILT"), std::string::npos) << result.output;
}
