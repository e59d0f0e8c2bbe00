#pragma once

#include <string>
#include <string_view>

namespace vmm {

// The path of one of vmm's companion programs (vmm-unpack, vmm-nft), which
// are built and installed next to the running executable: the directory of
// /proc/self/exe, whatever name (vmm, vmm-runc) it was started by. Throws an
// Error naming /proc/self/exe if that cannot be read.
std::string companion_program_path(std::string_view name);

}
