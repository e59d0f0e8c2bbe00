#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

struct nft_ctx;

namespace vmm::network {

// vmm's own nftables table; nothing of vmm lives outside it.
constexpr char const* nftables_table = "inet vmm";

// A libnftables context whose output and errors are buffered, so that a
// failure becomes one vmm::Error line ("nftables: add rule ...: Error: ...").
class Nftables {
public:
    Nftables();
    ~Nftables();
    Nftables(Nftables const&) = delete;
    Nftables& operator=(Nftables const&) = delete;

    // Runs `commands` (nft syntax, one transaction); `what` names them in errors.
    void run(std::string const& commands, std::string_view what);
    // The rules of vmm's table as libnftables' JSON objects (each with its
    // chain, handle and comment), or nothing when the table does not exist.
    std::optional<nlohmann::json> list_rules();

private:
    nft_ctx* m_context { nullptr };
};

}
