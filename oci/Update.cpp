// update: a running container's cgroup limits, from --resources (the
// runtime-spec's linux.resources) or runc's flags.

#include "oci/Runtime.h"

#include "common/Error.h"
#include "common/cgroup/Cgroup.h"
#include "oci/ArgumentFiles.h"
#include "oci/Config.h"
#include "oci/ContainerCgroup.h"
#include "oci/State.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <fmt/format.h>
#include <limits>

namespace vmm::oci {

namespace {

// A whole number, all of `text` (runc's flags are typed: "10x" is refused).
template<typename T>
T parse_number(std::string const& text, char const* flag)
{
    T value {};
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size())
        throw Error(fmt::format("update {}: '{}' is not a {}number", flag, text, std::is_signed_v<T> ? "" : "non-negative "));
    return value;
}

}

uint64_t parse_memory_size(std::string const& text)
{
    // runc's --memory: -1 for no limit, else units.RAMInBytes: a decimal
    // number, an optional space, then k, m, g, t or p (powers of 1024),
    // optionally followed by i and b in any case ("100M", "1.5GiB", "512kb").
    if (text == "-1")
        return vmm::unlimited_limit;
    size_t index = 0;
    while (index < text.size() && (std::isdigit(static_cast<unsigned char>(text[index])) || text[index] == '.'))
        ++index;
    auto const number_text = text.substr(0, index);
    double number = 0;
    auto [end, error] = std::from_chars(number_text.data(), number_text.data() + number_text.size(), number);
    bool valid = !number_text.empty() && std::isdigit(static_cast<unsigned char>(number_text.front())) && std::isdigit(static_cast<unsigned char>(number_text.back()))
        && error == std::errc() && end == number_text.data() + number_text.size();
    if (index < text.size() && text[index] == ' ')
        ++index;
    double multiplier = 1;
    if (index < text.size()) {
        constexpr std::string_view units = "kmgtp";
        auto const unit = units.find(static_cast<char>(std::tolower(static_cast<unsigned char>(text[index]))));
        if (unit != std::string_view::npos) {
            multiplier = std::pow(1024.0, static_cast<double>(unit + 1));
            ++index;
        }
    }
    if (index < text.size() && std::tolower(static_cast<unsigned char>(text[index])) == 'i')
        ++index;
    if (index < text.size() && std::tolower(static_cast<unsigned char>(text[index])) == 'b')
        ++index;
    auto const bytes = number * multiplier;
    if (!valid || index != text.size() || bytes >= static_cast<double>(std::numeric_limits<int64_t>::max()))
        throw Error(fmt::format("update --memory: '{}' is not a size (bytes, or with k, m, g, t, p; -1 for no limit)", text));
    return static_cast<uint64_t>(bytes);
}

int update_container(GlobalOptions const& global, UpdateOptions const& options)
{
    StateDirectory directory(global.root);
    auto [lock, record, status] = directory.open_locked(options.id);
    if (status == Status::Stopped)
        throw Error(fmt::format("container {} is stopped", options.id));
    container::ContainerSpec spec;
    if (!options.resources_file.empty()) {
        read_object_argument(options.resources_file, "--resources", [&](nlohmann::json const& resources) { read_resources(resources, spec); });
    }
    auto& limits = spec.resources;
    if (!options.memory.empty())
        limits.memory_bytes = parse_memory_size(options.memory);
    if (!options.cpu_quota.empty())
        limits.cpu_quota_us = parse_number<int64_t>(options.cpu_quota, "--cpu-quota");
    if (!options.cpu_period.empty())
        limits.cpu_period_us = parse_number<uint64_t>(options.cpu_period, "--cpu-period");
    if (!options.cpu_shares.empty())
        limits.cpu_shares = parse_number<uint64_t>(options.cpu_shares, "--cpu-share");
    if (!options.pids_limit.empty()) {
        // runc: a negative limit is none ("max"), 0 leaves it as it is.
        auto const pids = parse_number<int64_t>(options.pids_limit, "--pids-limit");
        if (pids < 0)
            limits.pids = vmm::unlimited_limit;
        else if (pids > 0)
            limits.pids = static_cast<uint64_t>(pids);
    }
    auto cgroup = open_container_cgroup(record);
    if (!cgroup)
        throw Error(fmt::format("container {} has no cgroup to update", options.id));
    cgroup->apply(limits);
    return 0;
}

}
