#include "container/SeccompProfile.h"

namespace vmm::container {

namespace {

// The profile as compiled by libseccomp at build time (vmm-compile-seccomp).
constexpr sock_filter program[] = {
#include "SeccompProgram.inc"
};

}

std::span<sock_filter const> precompiled_seccomp_program()
{
    return program;
}

}
