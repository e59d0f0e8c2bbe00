#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>

namespace vmm {

// Every failure vmm reports to a user is an Error whose message is one line
// naming the problem; main() prints it as "vmm: MESSAGE" and exits non-zero.
class Error : public std::runtime_error {
public:
    explicit Error(std::string const& message)
        : std::runtime_error(message)
    {
    }
};

// Builds "CALL SUBJECT: strerror(errno)", in the manner of crun's errors.
std::string describe_system_error(std::string_view call, std::string_view subject, int error_number);

// Throws an Error for a failed system call; `subject` names the path, device
// or ioctl the call was made on. Reads errno, so call it right after the failure.
[[noreturn]] void throw_system_error(std::string_view call, std::string_view subject = {});

}
