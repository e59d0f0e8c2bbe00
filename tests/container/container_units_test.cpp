// Unit tests of the runtime's parts: the seccomp profile, the ext4 check, the
// capability set, the subordinate ids and the child's placement (the cgroups:
// cgroup_units_test.cpp).

#include "tests/container/ContainerTestSupport.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "container/Capabilities.h"
#include "container/ContainerProcess.h"
#include "container/IdMapping.h"
#include "container/Namespaces.h"
#include "common/LoopDevice.h"
#include "container/SeccompProfile.h"

#include <algorithm>
#include <array>
#include <linux/keyctl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <linux/capability.h>
#include <sys/syscall.h>

using namespace vmm;
using namespace vmm::container;
using container_test::path_exists;

namespace {

TEST(SeccompProfileTable, NamesAreUniqueAndTheDangerousOnesDenied)
{
    std::set<std::string> names;
    for (auto const& rule : seccomp_profile())
        EXPECT_TRUE(names.insert(rule.name).second) << "listed twice: " << rule.name;
    for (auto const* name : { "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf", "keyctl", "add_key",
             "request_key", "mount", "umount2", "fsopen", "move_mount", "open_tree", "pivot_root", "reboot", "userfaultfd", "perf_event_open",
             "unshare", "setns", "open_by_handle_at", "swapon" }) {
        auto rule = std::find_if(seccomp_profile().begin(), seccomp_profile().end(), [&](auto const& rule) { return std::string(rule.name) == name; });
        ASSERT_NE(rule, seccomp_profile().end()) << name << " is not in the profile";
        EXPECT_EQ(rule->action, SeccompAction::DenyWithPermissionError) << name;
    }
    // Every name is a system call libseccomp knows on some architecture.
    for (auto const& rule : seccomp_profile())
        EXPECT_NE(seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, rule.name) == __NR_SCMP_ERROR && seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86, rule.name) == __NR_SCMP_ERROR, true) << rule.name;
}

TEST(SeccompProfileTable, CompiledProgramWorksInAChild)
{
    auto program = compile_seccomp_profile();
    ASSERT_GT(program.size(), 10u);
    ASSERT_LE(program.size(), 4096u) << "BPF_MAXINSNS";
    pid_t pid = ::fork();
    if (pid == 0) {
        // Exit codes: 0 all as expected, 10+ which check failed.
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            ::_exit(10);
        try {
            load_seccomp_program(program);
        } catch (...) {
            ::_exit(11);
        }
        if (::syscall(SYS_getpid) != ::getpid())
            ::_exit(12);
        if (::syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0) != -1 || errno != EPERM)
            ::_exit(13);
        if (::syscall(1999) != -1 || errno != ENOSYS)
            ::_exit(14);
        if (::syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS)
            ::_exit(15);
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(SeccompProfileTable, PrecompiledProgramIsTheProfile)
{
    // vmm loads the program compiled at build time; it must be what the
    // profile compiles to now (a stale build would differ).
    auto compiled = compile_seccomp_profile();
    auto precompiled = precompiled_seccomp_program();
    ASSERT_EQ(compiled.size(), precompiled.size());
    EXPECT_EQ(std::memcmp(compiled.data(), precompiled.data(), compiled.size() * sizeof(sock_filter)), 0);
}

TEST(Ext4Check, AcceptsTheRootfsImageAndRefusesOtherFiles)
{
    if (path_exists(container_test::rootfs_image)) {
        auto image = vmm::FileDescriptor::open(container_test::rootfs_image, O_RDONLY);
        EXPECT_NO_THROW(check_ext4_image(image.get(), container_test::rootfs_image));
    }
    auto zeros = vmm::FileDescriptor::open("/dev/zero", O_RDONLY);
    try {
        check_ext4_image(zeros.get(), "/dev/zero");
        ADD_FAILURE() << "/dev/zero passed as ext4";
    } catch (vmm::Error const& error) {
        EXPECT_STREQ(error.what(), "/dev/zero: not an ext4 image");
    }
}

TEST(CapabilitySet, IsDockersDefault)
{
    EXPECT_EQ(default_capabilities(), 0xa80425fbull);
    EXPECT_EQ(__builtin_popcountll(default_capabilities()), 14);
    // Without a device cgroup to enforce the allowlist, no CAP_MKNOD.
    EXPECT_EQ(default_capabilities(DeviceCreation::Denied), 0xa80425fbull & ~(1ull << CAP_MKNOD));
}

TEST(SubordinateIds, ParsesEntriesAndSkipsMalformedLines)
{
    auto entries = parse_subordinate_ids("alice:100000:65536\nbroken\nbob:x:1\nroot:200000:100000\n");
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[0].owner, "alice");
    EXPECT_EQ(entries[0].range.first, 100000u);
    EXPECT_EQ(entries[1].range.count, 100000u);
}

TEST(SubordinateIds, RootUsesItsOwnEntryCappedAt65536)
{
    auto range = choose_root_subordinate_range(parse_subordinate_ids("alice:100000:65536\nroot:200000:100000\n"));
    EXPECT_EQ(range.first, 200000u);
    EXPECT_EQ(range.count, 65536u);
}

TEST(SubordinateIds, WithoutAnEntryRootTakesAFreeRange)
{
    EXPECT_EQ(choose_root_subordinate_range({}).first, 0x80000u);
    // 524288 belongs to a user: the next free 65536 ids are taken.
    auto range = choose_root_subordinate_range(parse_subordinate_ids("alice:500000:100000\n"));
    EXPECT_EQ(range.first, 0x80000u + 2 * 65536u);
    EXPECT_EQ(range.count, 65536u);
}

// The parent keeps its child off its own CPU while both set up and gives it
// back every CPU it had: by restore(), or by the destructor on an error path.
TEST(ChildPlacement, TakesOneCpuFromTheChildAndGivesItBack)
{
    cpu_set_t own;
    ASSERT_EQ(::sched_getaffinity(0, sizeof(own), &own), 0);
    if (CPU_COUNT(&own) < 2)
        GTEST_SKIP() << "needs two CPUs, one to move the child to; this process may use " << CPU_COUNT(&own);
    int hold[2];
    ASSERT_EQ(::pipe2(hold, O_CLOEXEC), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(hold[1]);
        char byte;
        (void)!::read(hold[0], &byte, 1);
        ::_exit(0);
    }
    ::close(hold[0]);
    auto child_cpus = [&] {
        cpu_set_t set;
        CPU_ZERO(&set);
        EXPECT_EQ(::sched_getaffinity(child, sizeof(set), &set), 0);
        return set;
    };
    auto narrowed_by_one = [&](cpu_set_t set) {
        cpu_set_t within_own;
        CPU_AND(&within_own, &set, &own);
        return CPU_COUNT(&set) == CPU_COUNT(&own) - 1 && CPU_EQUAL(&within_own, &set);
    };
    {
        ChildPlacement placement(child);
        auto narrowed = child_cpus();
        EXPECT_TRUE(narrowed_by_one(narrowed)) << "the child may use " << CPU_COUNT(&narrowed) << " of " << CPU_COUNT(&own) << " CPUs";
        placement.restore();
        auto restored = child_cpus();
        EXPECT_TRUE(CPU_EQUAL(&restored, &own));
    }
    {
        ChildPlacement placement(child);
        EXPECT_TRUE(narrowed_by_one(child_cpus()));
    }
    auto after_destructor = child_cpus();
    EXPECT_TRUE(CPU_EQUAL(&after_destructor, &own));
    ::close(hold[1]);
    int status = 0;
    EXPECT_EQ(::waitpid(child, &status, 0), child);
}

// What a child of clone_sharing_memory() writes, its caller reads: the
// memory is one until the child executes or exits, and the caller waits
// until then. The child's stack lies below the caller's frames, which it
// must leave as they were.
struct SharedChildRecord {
    int written { 0 };
    int depth_reached { 0 };
    int exit_status { 0 };
    char const* program { nullptr };
};

int recurse(int depth, volatile char* previous)
{
    volatile char frame[1024];
    frame[0] = previous ? previous[0] : 1;
    return depth == 0 ? frame[0] : recurse(depth - 1, frame) + 1;
}

int shared_child(void* argument)
{
    auto& record = *static_cast<SharedChildRecord*>(argument);
    record.depth_reached = recurse(200, nullptr); // Some 200 KiB of stack.
    record.written = 42;
    if (record.program) {
        char* const arguments[] = { const_cast<char*>(record.program), nullptr };
        ::execv(record.program, arguments);
    }
    ::_exit(record.exit_status);
}

TEST(CloneSharingMemory, TheCallerReadsWhatTheChildWroteBeforeItsExitOrExec)
{
    std::array<int, 256> callers_own {};
    callers_own.fill(7);
    for (char const* program : { static_cast<char const*>(nullptr), "/bin/true" }) {
        SharedChildRecord record;
        record.exit_status = 5;
        record.program = program;
        pid_t pid = clone_sharing_memory(0, -1, shared_child, &record);
        ASSERT_GT(pid, 0);
        // No wait needed: the caller went on only once the child was done with the memory.
        EXPECT_EQ(record.written, 42);
        EXPECT_EQ(record.depth_reached, 201);
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), program ? 0 : 5);
    }
    EXPECT_TRUE(std::ranges::all_of(callers_own, [](int value) { return value == 7; })) << "the child's stack reached the caller's frame";
}

}
