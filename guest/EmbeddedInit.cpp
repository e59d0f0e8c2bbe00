#include "guest/EmbeddedInit.h"

extern "C" {
extern uint8_t const vmm_embedded_init_start[];
extern uint8_t const vmm_embedded_init_end[];
}

namespace vmm {

std::span<uint8_t const> embedded_init()
{
    return { vmm_embedded_init_start, vmm_embedded_init_end };
}

}
