#pragma once

#include <cstdint>
#include <string_view>

namespace vmm {

// Parses a size such as "512M", "2G", "65536" or "64K" (binary units, an
// optional trailing "iB" or "B"). Throws an Error naming `what` on anything else.
uint64_t parse_size(std::string_view text, std::string_view what);

}
