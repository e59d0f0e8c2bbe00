#include "network/Nftables.h"

#include "common/Error.h"

#include <fmt/format.h>
#include <nftables/libnftables.h>

namespace vmm::network {

namespace {

// The first line of libnftables' error output: what went wrong, without
// the caret lines pointing into the command.
std::string first_line(char const* text)
{
    std::string line = text ? text : "";
    if (auto const end = line.find('\n'); end != std::string::npos)
        line.resize(end);
    return line.empty() ? "failed" : line;
}

}

Nftables::Nftables()
    : m_context(nft_ctx_new(NFT_CTX_DEFAULT))
{
    if (!m_context)
        throw Error("nftables: cannot create a libnftables context");
    nft_ctx_buffer_output(m_context);
    nft_ctx_buffer_error(m_context);
}

Nftables::~Nftables()
{
    nft_ctx_free(m_context);
}

void Nftables::run(std::string const& commands, std::string_view what)
{
    nft_ctx_output_set_flags(m_context, 0);
    if (nft_run_cmd_from_buffer(m_context, commands.c_str()) != 0)
        throw Error(fmt::format("nftables: {}: {}", what, first_line(nft_ctx_get_error_buffer(m_context))));
}

std::optional<nlohmann::json> Nftables::list_rules()
{
    nft_ctx_output_set_flags(m_context, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
    auto const command = fmt::format("list table {}", nftables_table);
    int const result = nft_run_cmd_from_buffer(m_context, command.c_str());
    nft_ctx_output_set_flags(m_context, 0);
    if (result != 0) {
        std::string const error = first_line(nft_ctx_get_error_buffer(m_context));
        if (error.find("No such file or directory") != std::string::npos)
            return std::nullopt;
        throw Error(fmt::format("nftables: list table {}: {}", nftables_table, error));
    }
    auto document = nlohmann::json::parse(nft_ctx_get_output_buffer(m_context), nullptr, false);
    if (document.is_discarded() || !document.contains("nftables"))
        throw Error(fmt::format("nftables: list table {}: unreadable JSON output", nftables_table));
    nlohmann::json rules = nlohmann::json::array();
    for (auto const& entry : document["nftables"]) {
        if (entry.contains("rule"))
            rules.push_back(entry["rule"]);
    }
    return rules;
}

}
