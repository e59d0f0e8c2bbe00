#pragma once

#include "common/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace vmm::cli {

// Everything after the first "--" is the command to run and never reaches the
// option parser; argc is cut there.
std::vector<std::string> split_command(int& argc, char** argv);

// The option parsers shared by the commands; each throws a UsageError that names the option.
uint32_t parse_vcpu_count(std::string const& text);
uint64_t parse_positive_count(std::string const& text, char const* option);
// --pids: a positive count of processes no larger than Linux allows (PID_MAX_LIMIT).
uint64_t parse_process_limit(std::string const& text);
// --cpus of a container: from 0.01 (as Docker) to the CPUs vmm may use.
double parse_cpu_quota(std::string const& text);
// parse_size (common/Size.h) for an option's value.
uint64_t parse_size_option(std::string const& text, char const* option);

// Runs `parse`, a parser of an option's value from a lower layer that throws
// a plain Error, and rethrows its Error as the UsageError it is here.
template<typename Parse>
auto parse_option_value(Parse&& parse) -> decltype(parse())
{
    try {
        return parse();
    } catch (UsageError const&) {
        throw;
    } catch (Error const& error) {
        throw UsageError(error.what());
    }
}

}
