// vmm-runc's lifecycle and config.json, driven as podman and containerd
// drive it: create, state, start, kill, delete, run, exec, ps, pause.

#include "tests/oci/OciTestSupport.h"

#include <chrono>
#include <csignal>
#include <thread>

namespace oci_test {

namespace {

class OciRuntimeTest : public OciFixture { };

bool wait_for_status(OciRuntimeTest& test, std::string const& id, std::string const& status)
{
    for (int attempt = 0; attempt < 200; ++attempt) {
        if (test.state(id).value("status", "") == status)
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

}

TEST_F(OciRuntimeTest, CreateStartKillDeleteLeavesNothing)
{
    write_config(default_config({ "sleep", "1000" }));
    auto pid_file = m_scratch + "/pid";
    auto created = run({ "create", "--bundle", bundle(), "--pid-file", pid_file, "life" });
    ASSERT_EQ(created.exit_status, 0) << describe(created);
    auto created_state = state("life");
    EXPECT_EQ(created_state["status"], "created");
    EXPECT_EQ(created_state["ociVersion"].get<std::string>().substr(0, 2), "1.");
    EXPECT_EQ(std::to_string(created_state["pid"].get<int>()), read_text(pid_file));
    EXPECT_EQ(created_state["bundle"], bundle());
    // Not started: the process waits, it has not run sleep yet.
    EXPECT_NE(read_text("/proc/" + read_text(pid_file) + "/cmdline").substr(0, 5), "sleep");

    auto started = run({ "start", "life" });
    ASSERT_EQ(started.exit_status, 0) << describe(started);
    EXPECT_EQ(state("life")["status"], "running");
    EXPECT_EQ(read_text("/proc/" + read_text(pid_file) + "/cmdline").substr(0, 5), "sleep");

    // A running container is not deleted without --force.
    auto refused = run({ "delete", "life" });
    EXPECT_EQ(refused.exit_status, 1) << describe(refused);
    EXPECT_NE(refused.standard_error.find("running"), std::string::npos) << describe(refused);

    EXPECT_EQ(run({ "kill", "life", "KILL" }).exit_status, 0);
    EXPECT_TRUE(wait_for_status(*this, "life", "stopped"));
    auto deleted = run({ "delete", "life" });
    EXPECT_EQ(deleted.exit_status, 0) << describe(deleted);
    expect_nothing_left("life", "vmm-oci/life");
}

TEST_F(OciRuntimeTest, RunGivesTheExitStatusAndTheOutput)
{
    write_config(default_config({ "sh", "-c", "echo out; echo err >&2; exit 7" }));
    auto result = run({ "run", "--bundle", bundle(), "status" });
    EXPECT_EQ(result.exit_status, 7) << describe(result);
    EXPECT_EQ(result.standard_output, "out\n");
    EXPECT_NE(result.standard_error.find("err"), std::string::npos);
    expect_nothing_left("status", "vmm-oci/status");
}

TEST_F(OciRuntimeTest, TheCgroupMountShowsTheContainersOwnCgroup)
{
    // With and without a cgroup namespace: the limit where programs read
    // it, its own processes only, and none of the host's other cgroups.
    auto const script = "cd /sys/fs/cgroup; if [ -e cgroup.controllers ]; then memory=.; cat memory.max; else memory=memory; "
                        "cat memory/memory.limit_in_bytes; fi; wc -l <$memory/cgroup.procs; ls $memory | grep -c -e slice -e vmm-; "
                        "mkdir $memory/probe";
    for (bool const cgroup_namespace : { true, false }) {
        auto config = default_config({ "sh", "-c", script });
        config["linux"]["resources"]["memory"]["limit"] = 64 << 20;
        if (!cgroup_namespace) {
            auto& namespaces = config["linux"]["namespaces"];
            namespaces.erase(std::remove_if(namespaces.begin(), namespaces.end(), [](auto const& space) { return space["type"] == "cgroup"; }), namespaces.end());
        }
        write_config(config);
        auto const id = cgroup_namespace ? "view" : "binds";
        auto result = run({ "run", "--bundle", bundle(), id });
        EXPECT_NE(result.exit_status, 0) << "mkdir in the read-only view: " << describe(result);
        EXPECT_EQ(result.standard_output, "67108864\n2\n0\n") << (cgroup_namespace ? "with" : "without") << " a cgroup namespace:\n" << describe(result);
        EXPECT_NE(result.standard_error.find("Read-only file system"), std::string::npos) << describe(result);
        expect_nothing_left(id, std::string("vmm-oci/") + id);
    }
}

TEST_F(OciRuntimeTest, ProcessUserCwdEnvRlimitsAndCapabilities)
{
    auto config = default_config({ "sh", "-c", "id -u; id -g; id -G; pwd; echo $GREETING; ulimit -n; grep CapEff /proc/self/status; cat /proc/self/oom_score_adj" });
    config["process"]["user"] = { { "uid", 1000 }, { "gid", 1001 }, { "additionalGids", { 1002, 1003 } } };
    config["process"]["cwd"] = "/tmp";
    config["process"]["env"].push_back("GREETING=hello");
    config["process"]["rlimits"] = { { { "type", "RLIMIT_NOFILE" }, { "soft", 123 }, { "hard", 456 } } };
    config["process"]["oomScoreAdj"] = 100;
    config["process"]["capabilities"] = { { "bounding", { "CAP_KILL", "CAP_CHOWN" } }, { "effective", { "CAP_KILL" } }, { "permitted", { "CAP_KILL" } },
        { "inheritable", { "CAP_KILL" } }, { "ambient", { "CAP_KILL" } } };
    // A non-root user keeps capabilities across execve only as ambient ones.
    write_config(config);
    auto result = run({ "run", "--bundle", bundle(), "process" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "1000\n1001\n1001 1002 1003\n/tmp\nhello\n123\nCapEff:\t0000000000000020\n100\n") << describe(result);
}

TEST_F(OciRuntimeTest, HostnameMountsMaskedAndReadonlyPathsSysctlAndReadonlyRoot)
{
    auto config = default_config({ "sh", "-c",
        "hostname; cat /data/file; touch /data/new 2>/dev/null && echo data-writable; wc -c < /proc/timer_list; "
        "echo 1 > /proc/sys/kernel/shm_rmid_forced 2>/dev/null || echo proc-sys-read-only; cat /proc/sys/kernel/msgmax; "
        "touch /root-file 2>/dev/null || echo root-read-only; mount | grep -c ' /scratch type tmpfs'" });
    config["hostname"] = "oci-host";
    config["root"]["readonly"] = true;
    std::filesystem::create_directories(m_scratch + "/data");
    std::ofstream(m_scratch + "/data/file") << "from the host\n";
    config["mounts"].push_back({ { "destination", "/data" }, { "type", "bind" }, { "source", m_scratch + "/data" }, { "options", { "rbind", "ro" } } });
    config["mounts"].push_back({ { "destination", "/scratch" }, { "type", "tmpfs" }, { "source", "tmpfs" }, { "options", { "size=1m" } } });
    config["linux"]["sysctl"] = { { "kernel.msgmax", "12345" } };
    config["linux"]["namespaces"] = nlohmann::json::array({ { { "type", "pid" } }, { { "type", "network" } }, { { "type", "ipc" } }, { { "type", "uts" } }, { { "type", "mount" } } });
    write_config(config);
    auto result = run({ "run", "--bundle", bundle(), "mounts" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "oci-host\nfrom the host\n0\nproc-sys-read-only\n12345\nroot-read-only\n1\n") << describe(result);
    EXPECT_FALSE(std::filesystem::exists(m_scratch + "/data/new"));
    expect_nothing_left("mounts", "vmm-oci/mounts");
}

TEST_F(OciRuntimeTest, MaskedDirectoriesAreEmptyReadOnlyAndShareOneFileSystem)
{
    // Each masked directory is covered; one empty read-only tmpfs serves all
    // of them (binds of the first), so they show one device number.
    auto config = default_config({ "sh", "-c",
        "for d in /sys/kernel /sys/fs /sys/bus; do ls -A $d | wc -l; touch $d/x 2>/dev/null && echo $d-written; done; "
        "stat -c %d /sys/kernel /sys/fs /sys/bus | sort -u | wc -l; stat -c %d /sys/class /sys/kernel | sort -u | wc -l" });
    config["linux"]["maskedPaths"] = { "/sys/kernel", "/sys/fs", "/proc/no-such-directory", "/sys/bus" };
    write_config(config);
    auto result = run({ "run", "--bundle", bundle(), "masked" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "0\n0\n0\n1\n2\n") << describe(result);
    expect_nothing_left("masked", "vmm-oci/masked");
}

TEST_F(OciRuntimeTest, SeccompProfileFromTheConfig)
{
    auto config = default_config({ "sh", "-c", "mkdir /tmp/x 2>&1; echo status $?" });
    config["linux"]["seccomp"] = {
        { "defaultAction", "SCMP_ACT_ALLOW" },
        { "architectures", { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64" } },
        { "syscalls", { { { "names", { "mkdir", "mkdirat" } }, { "action", "SCMP_ACT_ERRNO" }, { "errnoRet", 1 } } } },
    };
    write_config(config);
    auto result = run({ "run", "--bundle", bundle(), "seccomp" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_NE(result.standard_output.find("Operation not permitted"), std::string::npos) << describe(result);
    EXPECT_NE(result.standard_output.find("status 1"), std::string::npos) << describe(result);
}

TEST_F(OciRuntimeTest, UnknownSeccompActionAndNamespaceTypeAreErrors)
{
    auto config = default_config({ "true" });
    config["linux"]["seccomp"] = { { "defaultAction", "SCMP_ACT_SOMETHING" } };
    write_config(config);
    auto result = run({ "create", "--bundle", bundle(), "bad-seccomp" });
    EXPECT_EQ(result.exit_status, 1);
    EXPECT_NE(result.standard_error.find("unknown action 'SCMP_ACT_SOMETHING'"), std::string::npos) << describe(result);

    config = default_config({ "true" });
    config["linux"]["namespaces"].push_back({ { "type", "nosuchns" } });
    write_config(config);
    result = run({ "create", "--bundle", bundle(), "bad-namespace" });
    EXPECT_EQ(result.exit_status, 1);
    EXPECT_NE(result.standard_error.find("unknown namespace type 'nosuchns'"), std::string::npos) << describe(result);
    EXPECT_FALSE(std::filesystem::exists(m_root + "/bad-namespace"));

    // What changes no security is a warning: the container runs.
    config = default_config({ "true" });
    config["linux"]["intelRdt"] = { { "closID", "x" } };
    write_config(config);
    result = run({ "run", "--bundle", bundle(), "warned" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_NE(result.standard_error.find("linux.intelRdt is not supported"), std::string::npos) << describe(result);
}

TEST_F(OciRuntimeTest, HooksGetTheStateOnStdin)
{
    auto config = default_config({ "true" });
    auto hook = [&](std::string const& name) {
        return nlohmann::json { { "path", "/bin/sh" }, { "args", { "sh", "-c", "cat > " + m_scratch + "/" + name } } };
    };
    config["hooks"] = { { "prestart", { hook("prestart") } }, { "createRuntime", { hook("createRuntime") } }, { "poststart", { hook("poststart") } }, { "poststop", { hook("poststop") } } };
    write_config(config);
    auto result = run({ "run", "--bundle", bundle(), "hooks" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    for (auto const* name : { "prestart", "createRuntime", "poststart", "poststop" }) {
        auto text = read_text(m_scratch + "/" + name);
        ASSERT_FALSE(text.empty()) << name;
        auto hook_state = nlohmann::json::parse(text);
        EXPECT_EQ(hook_state["id"], "hooks") << name;
        EXPECT_EQ(hook_state["bundle"], bundle()) << name;
    }
    EXPECT_GT(nlohmann::json::parse(read_text(m_scratch + "/prestart"))["pid"].get<int>(), 0);
    EXPECT_EQ(nlohmann::json::parse(read_text(m_scratch + "/poststop"))["status"], "stopped");
}

// A hook starts with every signal at its default: not with the runtime's
// signals, held blocked while the container is set up, nor with its
// ignored SIGPIPE (what a hook leaves running could not be stopped so).
TEST_F(OciRuntimeTest, HooksStartWithNoSignalBlockedOrIgnored)
{
    auto config = default_config({ "true" });
    auto hook = [&](std::string const& name) {
        return nlohmann::json { { "path", "/bin/sh" }, { "args", { "sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status > " + m_scratch + "/" + name } } };
    };
    config["hooks"] = { { "prestart", { hook("prestart") } }, { "createRuntime", { hook("createRuntime") } }, { "poststart", { hook("poststart") } } };
    write_config(config);
    auto result = run({ "run", "--bundle", bundle(), "hook-signals" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    for (auto const* name : { "prestart", "createRuntime", "poststart" }) {
        auto const text = read_text(m_scratch + "/" + name);
        EXPECT_NE(text.find("SigBlk:\t0000000000000000\n"), std::string::npos) << name << ": " << text;
        // sh ignores nothing of its own here; bit 13 is SIGPIPE.
        auto const ignored = text.substr(text.find("SigIgn:\t") + 8, 16);
        EXPECT_EQ(std::stoull(ignored, nullptr, 16) & (1ull << (SIGPIPE - 1)), 0u) << name << ": " << text;
    }
}

// state and list answer while create runs a slow hook, as runc's do: the
// container is "creating" then, and "created" once create returned.
TEST_F(OciRuntimeTest, StateAnswersCreatingWhileAHookRuns)
{
    auto config = default_config({ "true" });
    auto const go = m_scratch + "/go";
    config["hooks"] = { { "createRuntime", { { { "path", "/bin/sh" }, { "args", { "sh", "-c", "while [ ! -e " + go + " ]; do sleep 0.05; done" } } } } } };
    write_config(config);
    std::thread create([&] { EXPECT_EQ(run({ "create", "--bundle", bundle(), "slow" }).exit_status, 0); });
    auto runtime = [&](std::vector<std::string> arguments) {
        arguments.insert(arguments.begin(), { runtime_binary, "--root", m_root });
        return vmm::testing::run_process(arguments, { .timeout_seconds = 10, .input = {}, .streams = vmm::testing::OutputStreams::Separate });
    };
    std::string status;
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (status != "creating" && std::chrono::steady_clock::now() < deadline) {
        auto result = runtime({ "state", "slow" });
        if (result.exit_status == 0)
            status = nlohmann::json::parse(result.output).value("status", "");
        else
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(status, "creating");
    auto listed = runtime({ "list", "--format", "json" });
    EXPECT_FALSE(listed.timed_out);
    EXPECT_NE(listed.output.find("\"creating\""), std::string::npos) << listed.output;
    std::ofstream { go };
    create.join();
    EXPECT_EQ(state("slow")["status"], "created");
    EXPECT_EQ(run({ "delete", "--force", "slow" }).exit_status, 0);
    expect_nothing_left("slow", "vmm-oci/slow");
}

namespace {

void without_home(nlohmann::json& config)
{
    auto& environment = config["process"]["env"];
    for (auto variable = environment.begin(); variable != environment.end();)
        variable = variable->get<std::string>().starts_with("HOME=") ? environment.erase(variable) : variable + 1;
}

}

// HOME comes from the container's /etc/passwd where process.env has none,
// for run and exec, as runc sets it; one that env sets stays.
TEST_F(OciRuntimeTest, HomeIsTheUsersWhereEnvHasNone)
{
    std::ofstream(bundle() + "/rootfs/etc/passwd", std::ios::app) << "tester:x:1234:1234::/home/tester:/bin/sh\n";
    auto config = default_config({ "sh", "-c", "echo $HOME" });
    without_home(config);
    write_config(config);
    EXPECT_EQ(run({ "run", "--bundle", bundle(), "root-home" }).standard_output, "/root\n");
    config["process"]["user"] = { { "uid", 1234 }, { "gid", 1234 } };
    write_config(config);
    EXPECT_EQ(run({ "run", "--bundle", bundle(), "user-home" }).standard_output, "/home/tester\n");
    config["process"]["user"] = { { "uid", 4321 }, { "gid", 4321 } };
    write_config(config);
    EXPECT_EQ(run({ "run", "--bundle", bundle(), "no-entry" }).standard_output, "/\n");
    config["process"]["env"].push_back("HOME=/given");
    write_config(config);
    EXPECT_EQ(run({ "run", "--bundle", bundle(), "given" }).standard_output, "/given\n");

    config = default_config({ "sleep", "1000" });
    without_home(config);
    write_config(config);
    ASSERT_EQ(run({ "run", "--detach", "--bundle", bundle(), "exec-home" }).exit_status, 0);
    EXPECT_EQ(run({ "exec", "--user", "1234", "exec-home", "sh", "-c", "echo $HOME" }).standard_output, "/home/tester\n");
    EXPECT_EQ(run({ "delete", "--force", "exec-home" }).exit_status, 0);
}

// delete needs only the record and the hooks: a container whose rootfs was
// removed (a failed image mount, a cleaned-up bundle) still goes.
TEST_F(OciRuntimeTest, DeleteWorksOnceTheRootfsIsGone)
{
    auto config = default_config({ "sleep", "1000" });
    config["hooks"] = { { "poststop", { { { "path", "/bin/sh" }, { "args", { "sh", "-c", "touch " + m_scratch + "/poststop" } } } } } };
    write_config(config);
    ASSERT_EQ(run({ "create", "--bundle", bundle(), "orphaned" }).exit_status, 0);
    std::filesystem::remove_all(bundle() + "/rootfs");
    auto deleted = run({ "delete", "--force", "orphaned" });
    EXPECT_EQ(deleted.exit_status, 0) << describe(deleted);
    EXPECT_TRUE(std::filesystem::exists(m_scratch + "/poststop"));
    expect_nothing_left("orphaned", "vmm-oci/orphaned");
}

TEST_F(OciRuntimeTest, ExecPsPauseResume)
{
    write_config(default_config({ "sleep", "1000" }));
    ASSERT_EQ(run({ "run", "--detach", "--bundle", bundle(), "busy" }).exit_status, 0);
    auto exec = run({ "exec", "busy", "sh", "-c", "echo $$; hostname" });
    EXPECT_EQ(exec.exit_status, 0) << describe(exec);
    EXPECT_EQ(exec.standard_output.substr(0, exec.standard_output.find('\n')), "2") << describe(exec);
    auto process_file = m_scratch + "/process.json";
    std::ofstream(process_file) << nlohmann::json { { "args", { "sleep", "100" } }, { "cwd", "/" }, { "env", { "PATH=/bin:/usr/bin" } } }.dump();
    auto pid_file = m_scratch + "/exec.pid";
    auto detached = run({ "exec", "--process", process_file, "--detach", "--pid-file", pid_file, "busy" });
    EXPECT_EQ(detached.exit_status, 0) << describe(detached);
    auto processes = nlohmann::json::parse(run({ "ps", "--format", "json", "busy" }).standard_output);
    EXPECT_EQ(processes.size(), 2u) << processes.dump();
    EXPECT_NE(std::find(processes.begin(), processes.end(), std::stoi(read_text(pid_file))), processes.end());

    EXPECT_EQ(run({ "pause", "busy" }).exit_status, 0);
    EXPECT_EQ(state("busy")["status"], "paused");
    EXPECT_EQ(run({ "resume", "busy" }).exit_status, 0);
    EXPECT_EQ(state("busy")["status"], "running");
    auto updated = run({ "update", "--pids-limit", "77", "busy" });
    EXPECT_EQ(updated.exit_status, 0) << describe(updated);
    auto pids_max = std::filesystem::exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup/vmm-oci/busy/pids.max" : "/sys/fs/cgroup/pids/vmm-oci/busy/pids.max";
    EXPECT_EQ(read_text(pids_max), "77\n");
    auto list = nlohmann::json::parse(run({ "list", "--format", "json" }).standard_output);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0]["id"], "busy");
    EXPECT_EQ(run({ "delete", "--force", "busy" }).exit_status, 0);
    expect_nothing_left("busy", "vmm-oci/busy");
}

TEST_F(OciRuntimeTest, ConcurrentCreatesOfOneIdLetOneWin)
{
    write_config(default_config({ "sleep", "1000" }));
    std::vector<std::thread> threads;
    std::vector<int> statuses(4, -1);
    for (size_t index = 0; index < statuses.size(); ++index)
        threads.emplace_back([&, index] { statuses[index] = run({ "create", "--bundle", bundle(), "same" }).exit_status; });
    for (auto& thread : threads)
        thread.join();
    EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 0), 1);
    EXPECT_EQ(state("same")["status"], "created");
    EXPECT_EQ(run({ "delete", "same" }).exit_status, 0);
    expect_nothing_left("same", "vmm-oci/same");
}

TEST_F(OciRuntimeTest, FeaturesAndSystemdCgroup)
{
    auto features = run({ "features" });
    ASSERT_EQ(features.exit_status, 0);
    auto json = nlohmann::json::parse(features.standard_output);
    EXPECT_EQ(json["ociVersionMax"], "1.1.0");
    EXPECT_TRUE(json["linux"]["seccomp"]["enabled"].get<bool>());
    auto refused = run({ "--systemd-cgroup", "state", "x" });
    EXPECT_EQ(refused.exit_status, 1);
    EXPECT_NE(refused.standard_error.find("--systemd-cgroup is not supported"), std::string::npos) << describe(refused);
}

TEST_F(OciRuntimeTest, RootfsPropagationIsTheRootsAndPrivateByDefault)
{
    // The root's optional fields in mountinfo: "shared:N", "master:N",
    // "unbindable", or none (private). vmm makes / private before its mounts
    // and sets a requested "shared" or "unbindable" once set up.
    auto const script = "awk '$5 == \"/\" { for (i = 7; $i != \"-\"; i++) printf \"%s \", $i; print \"end\" }' /proc/self/mountinfo";
    write_config(default_config({ "sh", "-c", script }));
    auto result = run({ "run", "--bundle", bundle(), "private" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "end\n") << describe(result);

    auto config = default_config({ "sh", "-c", script });
    config["linux"]["rootfsPropagation"] = "unbindable";
    write_config(config);
    result = run({ "run", "--bundle", bundle(), "unbindable" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_EQ(result.standard_output, "unbindable end\n") << describe(result);
    expect_nothing_left("unbindable", "vmm-oci/unbindable");

    config["linux"]["rootfsPropagation"] = "shared";
    write_config(config);
    result = run({ "run", "--bundle", bundle(), "shared" });
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_TRUE(result.standard_output.starts_with("shared:")) << describe(result);
}

}
