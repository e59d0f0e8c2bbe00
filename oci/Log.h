#pragma once

#include <string>

namespace vmm::oci {

enum class LogFormat {
    Text,
    Json, // One {"level":..., "msg":..., "time":...} object a line, as runc writes (containerd reads it).
};

// Sends vmm's messages (warnings, and the error that ends a command) to
// stderr and, with --log, to that file too.
void set_up_logging(std::string const& file, LogFormat format, bool debug);

// The one-line error a command ends with: on stderr and in the log.
void log_error(std::string const& message);

// The current UTC time as RFC 3339 with nanoseconds ("2026-11-29T23:30:00.123456789Z"),
// as the log lines and the state's "created" carry it.
std::string rfc3339_now();

}
