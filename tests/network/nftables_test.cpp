#include "common/Error.h"
#include "network/Nftables.h"
#include "tests/support/Subprocess.h"

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace vmm::network;

namespace {

// The vmm-nft that this test binary's Nftables finds beside it (tests/CMakeLists.txt links it there).
std::string const helper = VMM_BUILD_DIR "/vmm-nft";

// The message of the vmm::Error that `action` throws, or "no error".
template<typename Action>
std::string error_of(Action action)
{
    try {
        action();
    } catch (vmm::Error const& error) {
        return error.what();
    }
    return "no error";
}

}

TEST(Nftables, ACommandThatDoesNotParseIsOneLineNamingWhatFailedAndTheHelperGoesOn)
{
    if (!std::filesystem::exists(helper))
        GTEST_SKIP() << "vmm-nft is not built (no libnftables)";
    // A parse error is found before anything reaches the kernel: no root needed, nothing changed.
    Nftables nftables;
    auto const message = error_of([&] { nftables.run("add rule inet vmm nonsense {{{\n", "the test's rule"); });
    EXPECT_TRUE(message.starts_with("nftables: the test's rule: Error: ")) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    // The same helper answers the next request after a failed one.
    auto const second = error_of([&] { nftables.run("frobnicate\n", "another rule"); });
    EXPECT_TRUE(second.starts_with("nftables: another rule: Error: ")) << second;
}

TEST(Nftables, AMissingHelperIsOneLineNamingIt)
{
    auto const message = error_of([] { Nftables nftables("/nonexistent/vmm-nft"); });
    EXPECT_EQ(message, "nftables: /nonexistent/vmm-nft: No such file or directory (it is built and installed next to vmm)");
}

TEST(Nftables, AHelperThatEndsWithoutAnsweringIsOneLineWithWhatItSaid)
{
    // As vmm-nft ends where the loader cannot find libnftables.so.1: a message on stderr, status 127.
    auto const script = std::filesystem::temp_directory_path() / fmt::format("vmm-nft-test-{}", ::getpid());
    {
        std::ofstream file(script);
        file << "#!/bin/sh\necho 'vmm-nft: error while loading shared libraries: libnftables.so.1' >&2\necho second line >&2\nexit 127\n";
    }
    ::chmod(script.c_str(), 0755);
    auto const message = error_of([&] {
        Nftables nftables(script.string());
        nftables.run("list tables\n", "list tables");
    });
    std::filesystem::remove(script);
    EXPECT_EQ(message, fmt::format("nftables: list tables: {} exit status 127 without answering: "
                                   "vmm-nft: error while loading shared libraries: libnftables.so.1",
                           script.string()));
}

TEST(Nftables, TheHelperRefusesToRunOutsideVmm)
{
    if (!std::filesystem::exists(helper))
        GTEST_SKIP() << "vmm-nft is not built (no libnftables)";
    auto const result = vmm::testing::run_process({ helper }, 30);
    EXPECT_EQ(result.exit_status, 2);
    EXPECT_EQ(result.output, "vmm-nft: run by vmm, which sends it requests on a socket as its standard input and output\n");
}
