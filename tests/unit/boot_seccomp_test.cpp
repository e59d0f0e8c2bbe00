// vmm boot's per-thread seccomp filters are compiled at build time by
// vmm-compile-boot-seccomp, which the aarch64 cross build runs under
// qemu-aarch64: each program must check the architecture vmm was built for
// and number the system calls as that architecture does (the aarch64 build
// runs this test under qemu-aarch64 too, through tests/cross).
#include "vmm/sandbox/BootSeccomp.h"

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <sys/syscall.h>

using namespace vmm::sandbox;

namespace {

#if defined(__x86_64__)
constexpr uint32_t native_architecture = AUDIT_ARCH_X86_64;
constexpr uint32_t foreign_architecture = AUDIT_ARCH_AARCH64;
#elif defined(__aarch64__)
constexpr uint32_t native_architecture = AUDIT_ARCH_AARCH64;
constexpr uint32_t foreign_architecture = AUDIT_ARCH_X86_64;
#endif

// Whether `program` compares the loaded word with `value` anywhere.
bool compares_with(std::span<sock_filter const> program, uint32_t value)
{
    for (auto const& instruction : program) {
        if (instruction.code == (BPF_JMP | BPF_JEQ | BPF_K) && instruction.k == value)
            return true;
    }
    return false;
}

}

TEST(BootSeccomp, EveryProgramChecksTheArchitectureVmmWasBuiltFor)
{
    for (auto kind : all_thread_kinds) {
        SCOPED_TRACE(thread_kind_name(kind));
        auto const program = precompiled_boot_filter(kind);
        ASSERT_GT(program.size(), 4u);
        // libseccomp's prologue: load seccomp_data.arch (offset 4), compare it.
        EXPECT_EQ(program[0].code, BPF_LD | BPF_W | BPF_ABS);
        EXPECT_EQ(program[0].k, 4u);
        EXPECT_TRUE(compares_with(program, native_architecture));
        EXPECT_FALSE(compares_with(program, foreign_architecture));
    }
}

TEST(BootSeccomp, SystemCallNamesAreNumberedAsTheBuildsArchitecture)
{
    // openat and ioctl have different numbers on x86_64 (257, 16) and aarch64 (56, 29).
    EXPECT_STREQ(syscall_name(__NR_openat), "openat");
    EXPECT_STREQ(syscall_name(__NR_ioctl), "ioctl");
    EXPECT_STREQ(syscall_name(__NR_epoll_pwait), "epoll_pwait");
    EXPECT_STREQ(syscall_name(-1), "an unknown system call");
}
