#pragma once

#include "common/FileDescriptor.h"
#include "network/NftablesProtocol.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace vmm::network {

// vmm's own nftables table; nothing of vmm lives outside it.
constexpr char const* nftables_table = "inet vmm";

// A conversation with vmm-nft (nft/main.cpp), the companion program that
// runs libnftables for vmm, started for the life of this object. A failure
// becomes one vmm::Error line ("nftables: add rule ...: Error: ...").
class Nftables {
public:
    // The vmm-nft installed next to the running executable.
    Nftables();
    // The helper at `helper_path`: tests name a missing one.
    explicit Nftables(std::string helper_path);
    ~Nftables();
    Nftables(Nftables const&) = delete;
    Nftables& operator=(Nftables const&) = delete;

    // Runs `commands` (nft syntax, one transaction); `what` names them in errors.
    void run(std::string const& commands, std::string_view what);
    // The rules of vmm's table as libnftables' JSON objects (each with its
    // chain, handle and comment), or nothing when the table does not exist.
    std::optional<nlohmann::json> list_rules();

private:
    struct Answer {
        bool done { false };
        std::string text;
    };
    Answer ask(nftables_protocol::Request request, std::string const& commands, std::string_view what);
    // Reaps the helper once: its exit status, as waitpid gives it.
    int reap_helper();

    std::string m_helper_path;
    FileDescriptor m_socket;
    FileDescriptor m_helper_errors;
    pid_t m_helper { -1 };
};

}
