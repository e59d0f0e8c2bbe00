#include "common/Error.h"

#include <cstring>

namespace vmm {

std::string describe_system_error(std::string_view call, std::string_view subject, int error_number)
{
    std::string message(call);
    if (!subject.empty()) {
        message += ' ';
        message += subject;
    }
    message += ": ";
    message += std::strerror(error_number);
    return message;
}

void throw_system_error(std::string_view call, std::string_view subject)
{
    throw Error(describe_system_error(call, subject, errno));
}

}
