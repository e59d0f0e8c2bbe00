// vmm-nft: runs nftables commands for vmm with libnftables. vmm starts it
// (network/Nftables.cpp) where `--net bridge` adds or removes NAT and
// published ports, and talks to it over its standard input and output
// (network/NftablesProtocol.h) until it closes them. A program of its own
// because Debian ships libnftables as a shared library only: vmm itself is
// one static executable, and none of its other starts loads libnftables and
// the five libraries it needs.

#include "network/NftablesProtocol.h"

#include <cstdio>
#include <nftables/libnftables.h>
#include <sys/socket.h>
#include <unistd.h>

namespace protocol = vmm::network::nftables_protocol;

namespace {

bool is_socket(int fd)
{
    int type = 0;
    socklen_t length = sizeof(type);
    return ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == SOCK_STREAM;
}

}

int main(int argc, char**)
{
    if (argc != 1 || !is_socket(STDIN_FILENO) || !is_socket(STDOUT_FILENO)) {
        std::fprintf(stderr, "vmm-nft: run by vmm, which sends it requests on a socket as its standard input and output\n");
        return 2;
    }
    nft_ctx* context = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!context) {
        std::fprintf(stderr, "vmm-nft: cannot create a libnftables context\n");
        return 1;
    }
    // Output and errors go to buffers that the replies carry.
    if (nft_ctx_buffer_output(context) != 0 || nft_ctx_buffer_error(context) != 0) {
        std::fprintf(stderr, "vmm-nft: cannot buffer libnftables' output\n");
        nft_ctx_free(context);
        return 1;
    }
    int status = 0;
    while (auto request = protocol::receive_frame(STDIN_FILENO)) {
        auto const kind = static_cast<protocol::Request>(request->kind);
        bool const known = kind == protocol::Request::Run || kind == protocol::Request::ListJson;
        bool done = false;
        if (known) {
            nft_ctx_output_set_flags(context, kind == protocol::Request::ListJson ? NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE : 0);
            done = nft_run_cmd_from_buffer(context, request->text.c_str()) == 0;
        }
        // Both buffers are taken after each command, which empties them for the next.
        char const* output = nft_ctx_get_output_buffer(context);
        char const* errors = nft_ctx_get_error_buffer(context);
        char const* text = !known ? "vmm-nft: unknown request" : done ? output : errors;
        auto const reply = done ? protocol::Reply::Done : protocol::Reply::Failed;
        if (!protocol::send_frame(STDOUT_FILENO, static_cast<uint8_t>(reply), text ? text : "")) {
            status = 1;
            break;
        }
    }
    nft_ctx_free(context);
    return status;
}
