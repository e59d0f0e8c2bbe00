#include "network/Conntrack.h"

#include "common/Error.h"

#include <cstring>
#include <fmt/format.h>
#include <memory>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netfilter/ct.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/socket.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace vmm::network {

namespace {

struct SocketDeleter {
    void operator()(nl_sock* socket) const { nl_socket_free(socket); }
};
struct CacheDeleter {
    void operator()(nl_cache* cache) const { nl_cache_free(cache); }
};
using Socket = std::unique_ptr<nl_sock, SocketDeleter>;
using Cache = std::unique_ptr<nl_cache, CacheDeleter>;

void check(int result, std::string_view operation)
{
    if (result < 0)
        throw Error(fmt::format("netlink {} (conntrack): {}", operation, nl_geterror(-result)));
}

bool is_address(nl_addr* candidate, Ipv4Address address)
{
    if (!candidate || nl_addr_get_family(candidate) != AF_INET || nl_addr_get_len(candidate) != sizeof(uint32_t))
        return false;
    uint32_t value = 0;
    std::memcpy(&value, nl_addr_get_binary_addr(candidate), sizeof(value));
    return value == address.network_order();
}

// The entries of `address`, each with its original tuple complete: a delete
// request without one would flush the whole table.
struct Connections {
    Socket socket;
    Cache cache;
    std::vector<nfnl_ct*> matching; // Owned by the cache.
};

Connections find_connections(Ipv4Address address)
{
    Connections result;
    // Without conntrack in this namespace there is nothing to find; asking
    // netlink would load its module.
    if (::access("/proc/sys/net/netfilter/nf_conntrack_count", F_OK) < 0)
        return result;
    result.socket.reset(nl_socket_alloc());
    if (!result.socket)
        throw Error("netlink (conntrack): out of memory");
    check(nl_connect(result.socket.get(), NETLINK_NETFILTER), "connect");
    nl_cache* cache = nullptr;
    if (int const error = nfnl_ct_alloc_cache(result.socket.get(), &cache); error < 0) {
        // nfnetlink answers EINVAL for a subsystem it does not have: a
        // kernel whose nf_conntrack_netlink is not loaded, nor loadable.
        if (error == -NLE_INVAL || error == -NLE_OPNOTSUPP)
            throw Error("netlink dump (conntrack): this kernel has no conntrack netlink interface (nf_conntrack_netlink)");
        check(error, "dump");
    }
    result.cache.reset(cache);
    for (auto* object = nl_cache_get_first(cache); object; object = nl_cache_get_next(object)) {
        auto* entry = reinterpret_cast<nfnl_ct*>(object);
        if (nfnl_ct_get_family(entry) != AF_INET || !nfnl_ct_get_src(entry, 0) || !nfnl_ct_get_dst(entry, 0))
            continue;
        for (int reply = 0; reply <= 1; ++reply) {
            if (is_address(nfnl_ct_get_src(entry, reply), address) || is_address(nfnl_ct_get_dst(entry, reply), address)) {
                result.matching.push_back(entry);
                break;
            }
        }
    }
    return result;
}

}

size_t count_connections(Ipv4Address address)
{
    return find_connections(address).matching.size();
}

size_t forget_connections(Ipv4Address address)
{
    auto connections = find_connections(address);
    size_t forgotten = 0;
    for (auto* entry : connections.matching) {
        int const result = nfnl_ct_del(connections.socket.get(), entry, 0);
        // An entry that timed out since the dump is gone already.
        if (result == -NLE_OBJ_NOTFOUND)
            continue;
        check(result, fmt::format("delete {}", address.to_string()));
        ++forgotten;
    }
    return forgotten;
}

void forget_connections_of(Ipv4Address address)
{
    try {
        if (auto const forgotten = forget_connections(address))
            spdlog::debug("forgot {} tracked connections of {}", forgotten, address.to_string());
    } catch (Error const& error) {
        spdlog::warn("the tracked connections of {} stay: {}", address.to_string(), error.what());
    }
}

}
