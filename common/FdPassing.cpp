#include "common/FdPassing.h"

#include "common/Error.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <sys/socket.h>

namespace vmm {

namespace {

// One byte of data and room for max_passed_fds fds, for sendmsg and recvmsg.
struct FdMessage {
    char byte { 1 };
    iovec data { &byte, 1 };
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_passed_fds)] {};
    msghdr message {};

    FdMessage()
    {
        message.msg_iov = &data;
        message.msg_iovlen = 1;
    }
    FdMessage(FdMessage const&) = delete;
    FdMessage& operator=(FdMessage const&) = delete;
};

}

void send_byte_with_fds(int socket_fd, std::span<int const> fds, std::string_view what)
{
    if (fds.size() > max_passed_fds)
        throw Error(fmt::format("sendmsg {}: {} fds, more than the {} one message carries", what, fds.size(), max_passed_fds));
    FdMessage fd_message;
    auto& message = fd_message.message;
    if (!fds.empty()) {
        message.msg_control = fd_message.control;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        auto* header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
    }
    while (::sendmsg(socket_fd, &message, MSG_NOSIGNAL) < 0) {
        if (errno != EINTR)
            throw_system_error("sendmsg", what);
    }
}

std::optional<std::vector<FileDescriptor>> receive_byte_with_fds(int socket_fd, std::string_view what)
{
    FdMessage fd_message;
    auto& message = fd_message.message;
    message.msg_control = fd_message.control;
    message.msg_controllen = sizeof(fd_message.control);
    ssize_t length;
    while ((length = ::recvmsg(socket_fd, &message, MSG_CMSG_CLOEXEC)) < 0) {
        if (errno != EINTR)
            throw_system_error("recvmsg", what);
    }
    std::vector<FileDescriptor> fds;
    for (auto* header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS)
            continue;
        size_t const count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t index = 0; index < count; ++index) {
            int fd = -1;
            std::memcpy(&fd, CMSG_DATA(header) + index * sizeof(int), sizeof(int));
            fds.emplace_back(fd);
        }
    }
    if (length == 0)
        return std::nullopt;
    if (message.msg_flags & MSG_CTRUNC)
        throw Error(fmt::format("recvmsg {}: more fds than the {} one message carries", what, max_passed_fds));
    return fds;
}

}
