// scripts/nested-kvm, the runner of commands inside a nested SVM KVM host under
// QEMU's software emulator: output, exit status, /dev/kvm, files in and out.
// Each run boots the outer kernel (about 5 s); tests skip where the script
// reports that nested KVM is unavailable (exit status 77).
#include <gtest/gtest.h>

#include "common/FileDescriptor.h"
#include "guest/protocol.h"

#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/kvm.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <spawn.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace {

constexpr int unavailable_status = 77;

std::string read_file(std::filesystem::path const& path)
{
    std::ifstream stream(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>());
}

void write_file(std::filesystem::path const& path, std::string const& contents)
{
    std::ofstream stream(path, std::ios::binary);
    stream << contents;
    ASSERT_TRUE(stream.good()) << "cannot write " << path;
}

// A directory for one test's files, removed with everything in it at the end.
class TemporaryDirectory {
public:
    TemporaryDirectory()
    {
        std::string pattern = (std::filesystem::temp_directory_path() / "nested-kvm-test.XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr)
            throw std::runtime_error("mkdtemp " + pattern + " failed");
        m_path = pattern;
    }
    ~TemporaryDirectory()
    {
        std::error_code ignored;
        std::filesystem::remove_all(m_path, ignored);
    }
    TemporaryDirectory(TemporaryDirectory const&) = delete;
    TemporaryDirectory& operator=(TemporaryDirectory const&) = delete;

    std::filesystem::path const& path() const { return m_path; }

private:
    std::filesystem::path m_path;
};

struct Result {
    int status { -1 };
    std::string output;
    std::string errors;
};

// Runs scripts/nested-kvm with `arguments`, its stdout and stderr captured in
// files, and `extra_environment` ("NAME=value") added to this process's.
Result run_nested_kvm(std::vector<std::string> const& arguments, std::vector<std::string> const& extra_environment = {})
{
    TemporaryDirectory directory;
    auto output_path = (directory.path() / "stdout").string();
    auto errors_path = (directory.path() / "stderr").string();
    std::string script = VMM_SOURCE_DIR "/scripts/nested-kvm";

    std::vector<std::string> words { script, "--build-dir", VMM_BUILD_DIR };
    words.insert(words.end(), arguments.begin(), arguments.end());
    std::vector<char*> argv;
    for (auto& word : words)
        argv.push_back(word.data());
    argv.push_back(nullptr);

    std::vector<std::string> environment_strings(extra_environment);
    for (char** entry = environ; *entry != nullptr; ++entry)
        environment_strings.emplace_back(*entry);
    std::vector<char*> environment;
    for (auto& entry : environment_strings)
        environment.push_back(entry.data());
    environment.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, errors_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = -1;
    int spawn_error = posix_spawn(&pid, script.c_str(), &actions, nullptr, argv.data(), environment.data());
    posix_spawn_file_actions_destroy(&actions);
    if (spawn_error != 0)
        throw std::runtime_error("posix_spawn " + script + " failed: " + std::to_string(spawn_error));

    int wait_status = 0;
    if (waitpid(pid, &wait_status, 0) != pid)
        throw std::runtime_error("waitpid failed");
    Result result;
    result.status = vmm_exit_status_from_wait_status(wait_status);
    result.output = read_file(output_path);
    result.errors = read_file(errors_path);
    return result;
}

#define SKIP_IF_UNAVAILABLE(result)                                       \
    do {                                                                  \
        if ((result).status == unavailable_status)                        \
            GTEST_SKIP() << "nested KVM is unavailable: " << (result).errors; \
    } while (0)

TEST(NestedKvm, ReturnsOutputAndExitStatus)
{
    auto result = run_nested_kvm({ "--", "sh", "-c", "echo hi; echo oops >&2; exit 5" });
    SKIP_IF_UNAVAILABLE(result);
    EXPECT_EQ(result.status, 5) << result.errors;
    EXPECT_EQ(result.output, "hi\n");
    EXPECT_NE(result.errors.find("oops\n"), std::string::npos) << result.errors;
}

TEST(NestedKvm, KeepsArgumentsAndBytesAsGiven)
{
    auto result = run_nested_kvm({ "--", "printf", "%s|%s|\\r\\n", "two words", "it's \"$HOME\"" });
    SKIP_IF_UNAVAILABLE(result);
    EXPECT_EQ(result.status, 0) << result.errors;
    EXPECT_EQ(result.output, "two words|it's \"$HOME\"|\r\n");
}

TEST(NestedKvm, OffersKvmWithSvmAndNestedPaging)
{
    auto result = run_nested_kvm({ "--", "sh", "-c",
        "test -c /dev/kvm && grep -qw svm /proc/cpuinfo && dmesg | grep -qi 'nested paging enabled' && echo kvm-ok" });
    SKIP_IF_UNAVAILABLE(result);
    EXPECT_EQ(result.status, 0) << result.errors;
    EXPECT_EQ(result.output, "kvm-ok\n");
}

TEST(NestedKvm, CopiesFilesInAndOut)
{
    TemporaryDirectory directory;
    auto input = directory.path() / "input";
    auto fetched = directory.path() / "fetched";
    write_file(input, "from the host\n");
    auto result = run_nested_kvm({ "--file", input.string() + ":/data/input", "--fetch", "/data/output:" + fetched.string(),
        "--", "sh", "-c", "cat /data/input; echo 'from L1' >/data/output" });
    SKIP_IF_UNAVAILABLE(result);
    EXPECT_EQ(result.status, 0) << result.errors;
    EXPECT_EQ(result.output, "from the host\n");
    EXPECT_EQ(read_file(fetched), "from L1\n");
}

TEST(NestedKvm, PacksADynamicVmmThatRunsAGuestOnL1Kvm)
{
    // This test binary links libstdc++ and friends dynamically, like vmm: packed
    // as /vmm, it runs KvmInsideL1 (below) on L1's /dev/kvm.
    auto self = std::filesystem::read_symlink("/proc/self/exe").string();
    auto result = run_nested_kvm({ "--vmm", self, "--", "/bin/env", "VMM_INSIDE_NESTED_KVM=1", "/vmm", "--gtest_filter=KvmInsideL1.*" });
    SKIP_IF_UNAVAILABLE(result);
    EXPECT_EQ(result.status, 0) << result.output << result.errors;
    EXPECT_NE(result.output.find("[       OK ] KvmInsideL1.RunsARealModeGuest"), std::string::npos) << result.output;
}

TEST(NestedKvm, TimeoutKillsQemu)
{
    auto result = run_nested_kvm({ "--timeout", "2", "--", "sleep", "100" });
    SKIP_IF_UNAVAILABLE(result);
    EXPECT_EQ(result.status, 124);
    EXPECT_NE(result.errors.find("timed out after 2 s"), std::string::npos) << result.errors;
}

TEST(NestedKvm, ReportsMissingQemuAsUnavailable)
{
    auto result = run_nested_kvm({ "--", "true" }, { "VMM_NESTED_QEMU=no-such-qemu-system" });
    EXPECT_EQ(result.status, unavailable_status);
    EXPECT_NE(result.errors.find("unavailable: no-such-qemu-system is not installed"), std::string::npos) << result.errors;
}

TEST(NestedKvm, ReportsACpuWithoutSvmAsUnavailable)
{
    auto result = run_nested_kvm({ "--", "true" }, { "VMM_NESTED_CPU=EPYC,-svm" });
    EXPECT_EQ(result.status, unavailable_status);
    EXPECT_NE(result.errors.find("unavailable: "), std::string::npos) << result.errors;
}

TEST(NestedKvm, RefusesBadUsage)
{
    auto no_command = run_nested_kvm({});
    EXPECT_EQ(no_command.status, 125);
    EXPECT_NE(no_command.errors.find("no command given"), std::string::npos) << no_command.errors;

    auto bad_timeout = run_nested_kvm({ "--timeout", "soon", "--", "true" });
    EXPECT_EQ(bad_timeout.status, 125);
    EXPECT_NE(bad_timeout.errors.find("--timeout must be"), std::string::npos) << bad_timeout.errors;
}

TEST(NestedKvm, SaysWhenFilesDoNotFitInL1Memory)
{
    // 200 MiB (sparse) kept in L1's initramfs by a high --disk-threshold: more
    // than --mem 256 holds. Refused before QEMU starts, naming the way out.
    TemporaryDirectory directory;
    auto const big = directory.path() / "big.img";
    {
        std::ofstream create(big);
    }
    std::filesystem::resize_file(big, 200ull << 20);
    auto result = run_nested_kvm({ "--mem", "256", "--disk-threshold", "1024", "--file", big.string() + ":/big.img", "--", "true" });
    SKIP_IF_UNAVAILABLE(result);
    EXPECT_EQ(result.status, 125) << result.errors;
    EXPECT_NE(result.errors.find("--mem 256 is too small for "), std::string::npos) << result.errors;
    EXPECT_NE(result.errors.find(" MiB of files in L1's initramfs: use at least "), std::string::npos) << result.errors;
    EXPECT_NE(result.errors.find("--disk-threshold"), std::string::npos) << result.errors;
}

// Runs only inside L1 (see above): a real-mode guest writes 0x42 to port 0xf4
// and halts. The host's own /dev/kvm may be a kind (PVM) without real mode.
TEST(KvmInsideL1, RunsARealModeGuest)
{
    if (getenv("VMM_INSIDE_NESTED_KVM") == nullptr)
        GTEST_SKIP() << "runs only inside scripts/nested-kvm";
    auto kvm = vmm::FileDescriptor::open("/dev/kvm", O_RDWR);
    vmm::FileDescriptor vm(ioctl(kvm.get(), KVM_CREATE_VM, 0));
    ASSERT_TRUE(vm.is_valid()) << "KVM_CREATE_VM: " << strerror(errno);

    constexpr size_t memory_size = 0x10000;
    constexpr uint64_t code_address = 0x1000;
    void* memory = mmap(nullptr, memory_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(memory, MAP_FAILED);
    // mov al, 0x42; out 0xf4, al; hlt
    unsigned char const code[] = { 0xb0, 0x42, 0xe6, 0xf4, 0xf4 };
    memcpy(static_cast<char*>(memory) + code_address, code, sizeof(code));
    kvm_userspace_memory_region region {};
    region.memory_size = memory_size;
    region.userspace_addr = reinterpret_cast<uint64_t>(memory);
    ASSERT_EQ(ioctl(vm.get(), KVM_SET_USER_MEMORY_REGION, &region), 0) << strerror(errno);

    vmm::FileDescriptor vcpu(ioctl(vm.get(), KVM_CREATE_VCPU, 0));
    ASSERT_TRUE(vcpu.is_valid()) << "KVM_CREATE_VCPU: " << strerror(errno);
    int run_size = ioctl(kvm.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
    ASSERT_GT(run_size, 0);
    void* run_mapping = mmap(nullptr, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu.get(), 0);
    ASSERT_NE(run_mapping, MAP_FAILED);
    auto* run = static_cast<kvm_run*>(run_mapping);

    kvm_sregs special_registers {};
    ASSERT_EQ(ioctl(vcpu.get(), KVM_GET_SREGS, &special_registers), 0);
    special_registers.cs.base = 0;
    special_registers.cs.selector = 0;
    ASSERT_EQ(ioctl(vcpu.get(), KVM_SET_SREGS, &special_registers), 0);
    kvm_regs registers {};
    registers.rip = code_address;
    registers.rflags = 0x2;
    ASSERT_EQ(ioctl(vcpu.get(), KVM_SET_REGS, &registers), 0);

    ASSERT_EQ(ioctl(vcpu.get(), KVM_RUN, 0), 0) << strerror(errno);
    ASSERT_EQ(run->exit_reason, KVM_EXIT_IO);
    EXPECT_EQ(run->io.port, 0xf4);
    EXPECT_EQ(run->io.direction, KVM_EXIT_IO_OUT);
    EXPECT_EQ(*(reinterpret_cast<unsigned char*>(run) + run->io.data_offset), 0x42);
    ASSERT_EQ(ioctl(vcpu.get(), KVM_RUN, 0), 0) << strerror(errno);
    EXPECT_EQ(run->exit_reason, KVM_EXIT_HLT);

    munmap(run_mapping, run_size);
    munmap(memory, memory_size);
}

}
