#include "cli/Options.h"

#include "common/Error.h"

#include <charconv>
#include <fmt/format.h>
#include <sched.h>
#include <string_view>

namespace vmm::cli {

namespace {

// KVM allows more, but the MP table vmm writes and the tests cover 32.
constexpr uint32_t maximum_vcpus = 32;

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
        throw Error("--cpus: '" + text + "' is not a vCPU count from 1 to " + std::to_string(maximum_vcpus));
    return cpus;
}

uint64_t parse_positive_count(std::string const& text, char const* option)
{
    uint64_t count = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
    if (error != std::errc() || end != text.data() + text.size() || count == 0)
        throw Error(std::string(option) + ": '" + text + "' is not a positive whole number");
    return count;
}

double parse_cpu_quota(std::string const& text)
{
    double cpus = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), cpus);
    if (error != std::errc() || end != text.data() + text.size() || !(cpus > 0))
        throw Error("--cpus: '" + text + "' is not a CPU count greater than 0");
    // A quota of more CPUs than vmm may run on limits nothing: a mistake,
    // which Docker refuses too.
    cpu_set_t usable;
    if (::sched_getaffinity(0, sizeof(usable), &usable) == 0 && cpus > CPU_COUNT(&usable))
        throw Error(fmt::format("--cpus: '{}' is more than the {} CPUs this host lets vmm use", text, CPU_COUNT(&usable)));
    return cpus;
}

}
