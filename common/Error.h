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

// A command line vmm cannot run as given: an option's value it cannot parse,
// or options that do not go together. main() exits 2 for it, as for what the
// option parser itself refuses; every other Error is a failed run (exit 1).
class UsageError : public Error {
public:
    using Error::Error;
};

// Builds "CALL SUBJECT: strerror(errno)", in the manner of crun's errors.
std::string describe_system_error(std::string_view call, std::string_view subject, int error_number);

// Throws an Error for a failed system call; `subject` names the path, device
// or ioctl the call was made on. Reads errno, so call it right after the failure.
[[noreturn]] void throw_system_error(std::string_view call, std::string_view subject = {});

}
