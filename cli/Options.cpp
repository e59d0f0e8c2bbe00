#include "cli/Options.h"

#include "common/Error.h"
#include "common/Size.h"

#include <charconv>
#include <fmt/format.h>
#include <sched.h>
#include <string_view>

namespace vmm::cli {

namespace {

// KVM allows more, but the MP table vmm writes and the tests cover 32.
constexpr uint32_t maximum_vcpus = 32;
// The smallest CPU quota, as Docker's --cpus: a CFS period of 100 ms gets a 1 ms quota.
constexpr double minimum_cpu_quota = 0.01;
// PID_MAX_LIMIT on 64-bit Linux: a larger pids.max is refused by the kernel.
constexpr uint64_t maximum_pids = 4ull * 1024 * 1024;

}

std::vector<std::string> split_command(int& argc, char** argv)
{
    std::vector<std::string> command;
    for (int index = 1; index < argc; ++index) {
        if (std::string_view(argv[index]) == "--") {
            command.assign(argv + index + 1, argv + argc);
            argc = index;
            break;
        }
    }
    return command;
}

uint32_t parse_vcpu_count(std::string const& text)
{
    uint32_t cpus = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), cpus);
    if (error != std::errc() || end != text.data() + text.size() || cpus == 0 || cpus > maximum_vcpus)
        throw UsageError("--cpus: '" + text + "' is not a vCPU count from 1 to " + std::to_string(maximum_vcpus));
    return cpus;
}

uint64_t parse_positive_count(std::string const& text, char const* option)
{
    uint64_t count = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
    if (error != std::errc() || end != text.data() + text.size() || count == 0)
        throw UsageError(std::string(option) + ": '" + text + "' is not a positive whole number");
    return count;
}

uint64_t parse_process_limit(std::string const& text)
{
    auto const count = parse_positive_count(text, "--pids");
    // Refused here rather than by the kernel when the cgroup is written, whose
    // "Invalid argument" or "Numerical result out of range" would not say why.
    if (count > maximum_pids)
        throw UsageError(fmt::format("--pids: '{}' is more than {}, the most processes Linux allows", text, maximum_pids));
    return count;
}

double parse_cpu_quota(std::string const& text)
{
    double cpus = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), cpus);
    if (error != std::errc() || end != text.data() + text.size() || !(cpus > 0))
        throw UsageError("--cpus: '" + text + "' is not a CPU count greater than 0");
    // Docker refuses a smaller quota too; raising it silently would run the
    // container with more CPU time than it was given.
    if (cpus < minimum_cpu_quota)
        throw UsageError(fmt::format("--cpus: '{}' is less than {}, the smallest CPU quota", text, minimum_cpu_quota));
    // A quota of more CPUs than vmm may run on limits nothing: a mistake,
    // which Docker refuses too.
    cpu_set_t usable;
    if (::sched_getaffinity(0, sizeof(usable), &usable) == 0 && cpus > CPU_COUNT(&usable))
        throw UsageError(fmt::format("--cpus: '{}' is more than the {} CPUs this host lets vmm use", text, CPU_COUNT(&usable)));
    return cpus;
}

uint64_t parse_size_option(std::string const& text, char const* option)
{
    return parse_option_value([&] { return parse_size(text, option); });
}

}
