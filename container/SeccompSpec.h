#pragma once

#include "container/ContainerSpec.h"

#include <linux/filter.h>
#include <vector>

namespace vmm::container {

// Compiles the config's seccomp profile (linux.seccomp, already translated
// into a SeccompSpec) with libseccomp for the running architecture. System
// call names this libseccomp does not know are skipped, as runc and crun do.
std::vector<sock_filter> compile_seccomp_spec(SeccompSpec const& spec);

}
