#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vmm::cli {

// Everything after the first "--" is the command to run and never reaches the
// option parser; argc is cut there.
std::vector<std::string> split_command(int& argc, char** argv);

// The option parsers shared by the commands; each throws an Error that names the option.
uint32_t parse_vcpu_count(std::string const& text);
uint64_t parse_positive_count(std::string const& text, char const* option);
double parse_cpu_quota(std::string const& text);

}
