#pragma once

// Reads one field of a process's /proc/PID/status, or a /proc file's first
// line, for a test.

#include <filesystem>
#include <fstream>
#include <string>

namespace vmm::testing {

// The value of `field` ("CapEff:") in a /proc/.../status file, or "" if absent.
inline std::string status_field(std::filesystem::path const& status, std::string const& field)
{
    std::ifstream file(status);
    std::string line;
    while (std::getline(file, line)) {
        if (line.rfind(field, 0) == 0) {
            auto value = line.substr(field.size());
            value.erase(0, value.find_first_not_of(" \t"));
            return value;
        }
    }
    return "";
}

// The first line of the file at `path` (a /proc entry, say), or "" if it
// cannot be read.
inline std::string first_line(std::filesystem::path const& path)
{
    std::ifstream file(path);
    std::string line;
    std::getline(file, line);
    return line;
}

}
