#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>

// What vmm (network/Nftables.cpp) and its nftables helper vmm-nft
// (nft/main.cpp) say to each other over one stream socket, the helper's
// standard input and output: frames of a kind byte, a length (host byte
// order: both ends are on one machine) and that many bytes of text. vmm sends
// a request, the helper answers it with one reply, until vmm closes the socket.
namespace vmm::network::nftables_protocol {

enum class Request : uint8_t {
    Run = 'r', // Commands in nft syntax, one transaction; the reply is Done or Failed.
    ListJson = 'l', // Commands whose output is wanted as JSON, with handles.
};

enum class Reply : uint8_t {
    Done = 'd', // The text is libnftables' output.
    Failed = 'f', // The text is libnftables' error output.
};

// A listing of thousands of rules stays well below it; a corrupt length does not allocate gigabytes.
inline constexpr uint32_t max_text_length = 64u << 20;

struct Frame {
    uint8_t kind { 0 };
    std::string text;
};

namespace detail {

inline bool send_all(int fd, void const* data, size_t size)
{
    auto const* bytes = static_cast<char const*>(data);
    while (size > 0) {
        // MSG_NOSIGNAL: a peer that died is an error to report, not a SIGPIPE.
        ssize_t sent = ::send(fd, bytes, size, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent <= 0)
            return false;
        bytes += sent;
        size -= static_cast<size_t>(sent);
    }
    return true;
}

inline bool receive_all(int fd, void* data, size_t size)
{
    auto* bytes = static_cast<char*>(data);
    while (size > 0) {
        ssize_t received = ::recv(fd, bytes, size, 0);
        if (received < 0 && errno == EINTR)
            continue;
        if (received <= 0)
            return false;
        bytes += received;
        size -= static_cast<size_t>(received);
    }
    return true;
}

}

// False where the peer is gone or the text is too long.
inline bool send_frame(int fd, uint8_t kind, std::string_view text)
{
    if (text.size() > max_text_length)
        return false;
    char header[5];
    header[0] = static_cast<char>(kind);
    uint32_t const length = static_cast<uint32_t>(text.size());
    std::memcpy(header + 1, &length, sizeof(length));
    return detail::send_all(fd, header, sizeof(header)) && detail::send_all(fd, text.data(), text.size());
}

// Nothing at the end of the stream, on an error or on a length over the limit.
inline std::optional<Frame> receive_frame(int fd)
{
    char header[5];
    if (!detail::receive_all(fd, header, sizeof(header)))
        return std::nullopt;
    uint32_t length = 0;
    std::memcpy(&length, header + 1, sizeof(length));
    if (length > max_text_length)
        return std::nullopt;
    Frame frame { static_cast<uint8_t>(header[0]), std::string(length, '\0') };
    if (!detail::receive_all(fd, frame.text.data(), length))
        return std::nullopt;
    return frame;
}

}
