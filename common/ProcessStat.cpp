#include "common/ProcessStat.h"

#include <fmt/format.h>
#include <fstream>
#include <sstream>

namespace vmm {

std::optional<ProcessStat> running_process_stat(pid_t pid)
{
    if (pid <= 0)
        return std::nullopt;
    std::ifstream file(fmt::format("/proc/{}/stat", pid));
    std::string text;
    if (!std::getline(file, text))
        return std::nullopt;
    // "PID (COMM) STATE ...": the fields after the name start after the last ')'.
    auto const open = text.find('(');
    auto const close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open || close + 2 >= text.size())
        return std::nullopt;
    std::istringstream fields(text.substr(close + 2));
    char state = 0;
    fields >> state;
    if (state == 'Z' || state == 'X')
        return std::nullopt;
    // starttime is field 22; the state is field 3.
    std::string field;
    for (int index = 4; index <= 22; ++index)
        fields >> field;
    ProcessStat stat { text.substr(open + 1, close - open - 1), 0 };
    try {
        stat.start_time = std::stoull(field);
    } catch (...) {
        return std::nullopt;
    }
    return stat;
}

}
