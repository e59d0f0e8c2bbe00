#pragma once

#include "common/FileDescriptor.h"

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace vmm {

// The most fds one message carries.
constexpr size_t max_passed_fds = 8;

// Sends one byte with `fds` attached (SCM_RIGHTS) over Unix socket
// `socket_fd`. Errors throw, naming `what` ("(container set-up socket)");
// a peer that is gone is EPIPE, without SIGPIPE.
void send_byte_with_fds(int socket_fd, std::span<int const> fds, std::string_view what);

// Receives one message that send_byte_with_fds() sent: its fds, close-on-exec.
// nullopt at end of file (the sender is gone).
std::optional<std::vector<FileDescriptor>> receive_byte_with_fds(int socket_fd, std::string_view what);

}
