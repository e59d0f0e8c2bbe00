#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace vmm::oci {

// The JSON files that exec --process and update --resources name ("-":
// stdin). Errors name the flag and the file, not config.json: a directory,
// a FIFO, an unreadable file or invalid JSON is one line.

// Reads such a file, which must hold a JSON object, and runs `read`
// (read_process, read_resources) on it: its "config.json: FIELD ..." errors
// are given as "FLAG FILE: FIELD ...".
void read_object_argument(std::string const& path, char const* flag, std::function<void(nlohmann::json const&)> const& read);

// A user or group id as runc takes one: a decimal number 0-4294967294
// ((uid_t)-1 is no id). An Error names `what` otherwise.
uint32_t parse_id(std::string const& text, std::string const& what);

}
