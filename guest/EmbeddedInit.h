#pragma once

#include <cstdint>
#include <span>

namespace vmm {

// The static guest/init binary, as built with vmm and linked into it.
std::span<uint8_t const> embedded_init();

}
