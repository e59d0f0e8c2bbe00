#include "common/Timings.h"

#include <fmt/format.h>

namespace vmm {

std::chrono::steady_clock::time_point Timings::process_start()
{
    // main() calls this first thing, so the clock starts as vmm starts.
    static auto const start = std::chrono::steady_clock::now();
    return start;
}

double Timings::elapsed_milliseconds()
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - process_start()).count();
}

void Timings::mark(Milestone milestone)
{
    auto const elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - process_start()).count();
    int64_t unset = 0;
    m_nanoseconds[static_cast<int>(milestone)].compare_exchange_strong(unset, elapsed);
}

std::string Timings::summary() const
{
    static char const* const names[] = { "vm created", "first KVM_RUN", "boot marker", "exit" };
    std::string text;
    for (int index = 0; index < static_cast<int>(Milestone::Count); ++index) {
        int64_t const nanoseconds = m_nanoseconds[index].load();
        if (!text.empty())
            text += ", ";
        text += nanoseconds ? fmt::format("{} {:.3f} ms", names[index], static_cast<double>(nanoseconds) / 1e6) : fmt::format("{} -", names[index]);
    }
    return text;
}

}
