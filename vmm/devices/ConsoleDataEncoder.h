#pragma once

#include "guest/protocol.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace vmm {

// Host input that is data (vmm's stdin is a pipe or a file) on its way into
// a guest console that guest/init set up with vmm_console_data_input(): the
// bytes the canonical line discipline would act on go behind VLNEXT, a line
// longer than VMM_CONSOLE_LINE_PUSH is handed over in pieces with VEOF, and
// finish() ends the input with VEOF on an empty line, so that the command
// reads exactly the bytes given and then end of file (guest/protocol.h).
class ConsoleDataEncoder {
public:
    // The most bytes encode() makes of `input_size` bytes.
    static constexpr size_t encoded_size_limit(size_t input_size) { return input_size * 2 + input_size / VMM_CONSOLE_LINE_PUSH + 1; }

    void encode(std::span<uint8_t const> data, std::vector<uint8_t>& encoded);
    void finish(std::vector<uint8_t>& encoded);

private:
    size_t m_line_length { 0 };
};

}
