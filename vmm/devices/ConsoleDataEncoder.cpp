#include "vmm/devices/ConsoleDataEncoder.h"

#include "guest/protocol.h"

namespace vmm {

void ConsoleDataEncoder::encode(std::span<uint8_t const> data, std::vector<uint8_t>& encoded)
{
    for (auto byte : data) {
        if (byte == '\n') {
            encoded.push_back(byte);
            m_line_length = 0;
            continue;
        }
        // NUL is special too: the disabled characters all read as 0 on Linux.
        if (byte == 0 || byte == VMM_CONSOLE_END_OF_FILE || byte == VMM_CONSOLE_LITERAL_NEXT)
            encoded.push_back(VMM_CONSOLE_LITERAL_NEXT);
        encoded.push_back(byte);
        // VEOF after bytes on the line hands them to the reader without ending the input.
        if (++m_line_length == VMM_CONSOLE_LINE_PUSH) {
            encoded.push_back(VMM_CONSOLE_END_OF_FILE);
            m_line_length = 0;
        }
    }
}

void ConsoleDataEncoder::finish(std::vector<uint8_t>& encoded)
{
    // The first VEOF hands over an unfinished last line; VEOF on an empty line is the end.
    if (m_line_length > 0)
        encoded.push_back(VMM_CONSOLE_END_OF_FILE);
    encoded.push_back(VMM_CONSOLE_END_OF_FILE);
    m_line_length = 0;
}

}
