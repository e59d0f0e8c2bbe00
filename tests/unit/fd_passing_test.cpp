// Passing fds with a byte over a Unix socket (the container's set-up socket
// and terminal): what arrives, end of file, and the limit per message.
#include "common/Error.h"
#include "common/FdPassing.h"

#include <gtest/gtest.h>

#include <array>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace vmm;

namespace {

struct SocketPair {
    FileDescriptor sender;
    FileDescriptor receiver;
};

SocketPair make_socket_pair()
{
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
    return { FileDescriptor(fds[0]), FileDescriptor(fds[1]) };
}

}

TEST(FdPassing, TheFdsArriveAsNewFdsOfTheSameFilesInOrder)
{
    auto sockets = make_socket_pair();
    int first[2];
    int second[2];
    ASSERT_EQ(::pipe(first), 0);
    ASSERT_EQ(::pipe(second), 0);
    std::array<int, 2> const sent { first[1], second[1] };
    send_byte_with_fds(sockets.sender.get(), sent, "(test socket)");
    auto received = receive_byte_with_fds(sockets.receiver.get(), "(test socket)");
    ASSERT_TRUE(received.has_value());
    ASSERT_EQ(received->size(), 2u);
    // Writes through each received fd come out of its own pipe.
    ASSERT_EQ(::write((*received)[0].get(), "a", 1), 1);
    ASSERT_EQ(::write((*received)[1].get(), "b", 1), 1);
    char byte = 0;
    ASSERT_EQ(::read(first[0], &byte, 1), 1);
    EXPECT_EQ(byte, 'a');
    ASSERT_EQ(::read(second[0], &byte, 1), 1);
    EXPECT_EQ(byte, 'b');
    EXPECT_EQ(::fcntl((*received)[0].get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    for (int fd : { first[0], first[1], second[0], second[1] })
        ::close(fd);
}

TEST(FdPassing, MessagesKeepTheirBoundariesAndMayCarryNoFd)
{
    auto sockets = make_socket_pair();
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    send_byte_with_fds(sockets.sender.get(), std::array<int, 1> { pipe_fds[0] }, "(test socket)");
    send_byte_with_fds(sockets.sender.get(), {}, "(test socket)");
    auto first = receive_byte_with_fds(sockets.receiver.get(), "(test socket)");
    auto second = receive_byte_with_fds(sockets.receiver.get(), "(test socket)");
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->size(), 1u);
    EXPECT_TRUE(second->empty());
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
}

TEST(FdPassing, EndOfFileIsNoMessage)
{
    auto sockets = make_socket_pair();
    sockets.sender.reset();
    EXPECT_FALSE(receive_byte_with_fds(sockets.receiver.get(), "(test socket)").has_value());
}

TEST(FdPassing, ErrorsNameTheSocket)
{
    auto sockets = make_socket_pair();
    sockets.receiver.reset();
    try {
        send_byte_with_fds(sockets.sender.get(), {}, "(test socket)");
        FAIL() << "a send to a closed peer succeeded";
    } catch (Error const& error) {
        EXPECT_NE(std::string(error.what()).find("sendmsg (test socket)"), std::string::npos) << error.what();
    }
    std::array<int, max_passed_fds + 1> too_many {};
    too_many.fill(STDIN_FILENO);
    EXPECT_THROW(send_byte_with_fds(sockets.sender.get(), too_many, "(test socket)"), Error);
}
