#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vmm::network {

// One published port: HOST_PORT on the host's addresses forwarded to PORT
// of the instance.
struct PortMapping {
    enum class Protocol {
        Tcp,
        Udp,
    };
    uint16_t host_port { 0 };
    uint16_t port { 0 };
    Protocol protocol { Protocol::Tcp };

    // "8080:80", "8080:80/tcp", "5353:53/udp"; throws vmm::Error
    // "-p 'TEXT': ..." for anything else or a port outside 1-65535.
    static PortMapping parse(std::string_view text);
    std::string to_string() const; // "8080:80/tcp"
    char const* protocol_name() const { return protocol == Protocol::Tcp ? "tcp" : "udp"; }
    bool operator==(PortMapping const&) const = default;
};

}
