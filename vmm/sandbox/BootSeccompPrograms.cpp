#include "vmm/sandbox/BootSeccomp.h"

#include <iterator>

namespace vmm::sandbox {

namespace {

// program_N is the filter of ThreadKind N, compiled at build time, and
// syscall_names the native system calls' names by number.
#include "BootSeccompPrograms.inc"

}

char const* syscall_name(long number)
{
    if (number < 0 || static_cast<size_t>(number) >= std::size(syscall_names) || syscall_names[number][0] == '\0')
        return "an unknown system call";
    return syscall_names[number];
}

std::span<sock_filter const> precompiled_boot_filter(ThreadKind kind)
{
    switch (kind) {
    case ThreadKind::Vcpu:
        return program_0;
    case ThreadKind::Io:
        return program_1;
    case ThreadKind::IoWithTimings:
        return program_2;
    case ThreadKind::BlockQueue:
        return program_3;
    }
    return {};
}

}
