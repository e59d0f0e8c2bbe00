#pragma once

// Helpers shared by the OCI runtime tests: a bundle made from the test
// rootfs (a private copy, so the container may write to it), vmm-runc run
// with a private --root, and checks that nothing is left behind.

#include "tests/support/Subprocess.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace oci_test {

inline std::string const runtime_binary = VMM_BUILD_DIR "/vmm-runc";
inline std::string const test_rootfs = VMM_BUILD_DIR "/guest/rootfs";

struct RunResult {
    int exit_status { -1 };
    std::string standard_output;
    std::string standard_error;
};

inline std::string describe(RunResult const& result)
{
    return "exit " + std::to_string(result.exit_status) + "\nstdout: " + result.standard_output + "\nstderr: " + result.standard_error;
}

inline std::string read_text(std::string const& path)
{
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

inline std::set<std::string> mount_points_under(std::string const& prefix)
{
    std::set<std::string> result;
    std::istringstream mounts(read_text("/proc/self/mountinfo"));
    std::string line;
    while (std::getline(mounts, line)) {
        std::istringstream fields(line);
        std::string field;
        for (int index = 0; index < 5 && fields >> field; ++index) { }
        if (field.starts_with(prefix))
            result.insert(field);
    }
    return result;
}

// A scratch directory holding a bundle (config.json + a copy of the test
// rootfs) and the runtime's --root; removed with everything in it.
class OciFixture : public ::testing::Test {
public:
    void SetUp() override
    {
        if (::geteuid() != 0)
            GTEST_SKIP() << "the OCI runtime tests need root (namespaces, cgroups, mounts)";
        if (!std::filesystem::exists(test_rootfs + "/bin/sh"))
            GTEST_SKIP() << "no test rootfs at " << test_rootfs << " (guest/build-rootfs makes it)";
        m_scratch = std::filesystem::temp_directory_path() / ("vmm-oci-test-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(m_scratch);
        std::filesystem::create_directories(m_scratch + "/bundle");
        ASSERT_EQ(std::system(("cp -aH " + test_rootfs + " " + m_scratch + "/bundle/rootfs").c_str()), 0);
        m_root = m_scratch + "/state";
        write_config(default_config({ "true" }));
    }
    void TearDown() override
    {
        if (m_scratch.empty())
            return;
        // Whatever a failed test left running goes.
        for (auto const& id : m_created)
            run({ "delete", "--force", id });
        std::filesystem::remove_all(m_scratch);
    }

    std::string bundle() const { return m_scratch + "/bundle"; }

    nlohmann::json default_config(std::vector<std::string> const& args)
    {
        auto result = run({ "spec", "--bundle", m_scratch });
        EXPECT_EQ(result.exit_status, 0) << describe(result);
        auto config = nlohmann::json::parse(read_text(m_scratch + "/config.json"));
        std::filesystem::remove(m_scratch + "/config.json");
        config["process"]["terminal"] = false;
        config["process"]["args"] = args;
        config["root"]["readonly"] = false;
        return config;
    }

    void write_config(nlohmann::json const& config)
    {
        std::ofstream(bundle() + "/config.json") << config.dump(2);
    }

    // The runtime's output goes to files, not pipes: a created container
    // keeps the stdio it was given, and a pipe would not end while it lives.
    RunResult run(std::vector<std::string> const& arguments, int timeout_seconds = 60, std::string const& input = {})
    {
        auto output = m_scratch + "/runtime.out";
        auto error = m_scratch + "/runtime.err";
        std::vector<std::string> command { "/bin/sh", "-c", "exec \"$@\" >" + output + " 2>" + error, "sh", runtime_binary, "--root", m_root };
        command.insert(command.end(), arguments.begin(), arguments.end());
        if (arguments.size() > 1 && (arguments[0] == "create" || arguments[0] == "run")) {
            // Tests call run() from several threads at once (concurrent creates).
            std::lock_guard lock(m_created_lock);
            m_created.push_back(arguments.back());
        }
        auto process = vmm::testing::run_process(command, { .timeout_seconds = timeout_seconds, .input = input, .streams = vmm::testing::OutputStreams::Separate });
        return { process.timed_out ? -1 : process.exit_status, read_text(output), read_text(error) };
    }

    nlohmann::json state(std::string const& id)
    {
        auto result = run({ "state", id });
        EXPECT_EQ(result.exit_status, 0) << describe(result);
        try {
            return nlohmann::json::parse(result.standard_output);
        } catch (...) {
            ADD_FAILURE() << "state is not JSON: " << result.standard_output;
            return {};
        }
    }

    // Nothing of the container's is left: no state, no cgroup, no mount.
    void expect_nothing_left(std::string const& id, std::string const& cgroups_path)
    {
        EXPECT_FALSE(std::filesystem::exists(m_root + "/" + id)) << id;
        for (auto const* controller : { "memory", "pids", "cpu", "devices", "freezer" }) {
            auto directory = std::string("/sys/fs/cgroup/") + controller + "/" + cgroups_path;
            EXPECT_FALSE(std::filesystem::exists(directory)) << directory;
        }
        EXPECT_FALSE(std::filesystem::exists("/sys/fs/cgroup/" + cgroups_path));
        EXPECT_TRUE(mount_points_under(m_scratch).empty());
    }

    std::string m_scratch;
    std::string m_root;
    std::mutex m_created_lock;
    std::vector<std::string> m_created;
};

}
