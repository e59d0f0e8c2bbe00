#include "network/Nftables.h"

#include "common/Error.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <nftables/libnftables.h>

namespace vmm::network {

namespace {

// libnftables, loaded on first use rather than linked: it brings five more
// shared libraries (libnftnl, libxtables, libjansson, libgmp, libmnl) whose
// loading and symbol lookups every `vmm` start would otherwise pay, though
// only `--net bridge` with NAT or published ports calls it. The declarations
// still come from the library's own header, so the types cannot drift.
struct Library {
    decltype(&nft_ctx_new) ctx_new;
    decltype(&nft_ctx_free) ctx_free;
    decltype(&nft_ctx_buffer_output) ctx_buffer_output;
    decltype(&nft_ctx_buffer_error) ctx_buffer_error;
    decltype(&nft_ctx_output_set_flags) ctx_output_set_flags;
    decltype(&nft_run_cmd_from_buffer) run_cmd_from_buffer;
    decltype(&nft_ctx_get_output_buffer) ctx_get_output_buffer;
    decltype(&nft_ctx_get_error_buffer) ctx_get_error_buffer;
};

constexpr char const* library_name = "libnftables.so.1";

template<typename Function>
void resolve(void* handle, Function& function, char const* name)
{
    function = reinterpret_cast<Function>(::dlsym(handle, name));
    if (!function)
        throw Error(fmt::format("nftables: dlsym {}: {} has no such symbol", name, library_name));
}

Library load_library()
{
    // Kept loaded for the life of the process, as a linked library would be.
    void* handle = ::dlopen(library_name, RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        throw Error(fmt::format("nftables: dlopen {}: {} (install the libnftables1 package)", library_name, ::dlerror()));
    Library library {};
    resolve(handle, library.ctx_new, "nft_ctx_new");
    resolve(handle, library.ctx_free, "nft_ctx_free");
    resolve(handle, library.ctx_buffer_output, "nft_ctx_buffer_output");
    resolve(handle, library.ctx_buffer_error, "nft_ctx_buffer_error");
    resolve(handle, library.ctx_output_set_flags, "nft_ctx_output_set_flags");
    resolve(handle, library.run_cmd_from_buffer, "nft_run_cmd_from_buffer");
    resolve(handle, library.ctx_get_output_buffer, "nft_ctx_get_output_buffer");
    resolve(handle, library.ctx_get_error_buffer, "nft_ctx_get_error_buffer");
    return library;
}

Library const& library()
{
    static Library const loaded = load_library();
    return loaded;
}

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
    : m_context(library().ctx_new(NFT_CTX_DEFAULT))
{
    if (!m_context)
        throw Error("nftables: cannot create a libnftables context");
    library().ctx_buffer_output(m_context);
    library().ctx_buffer_error(m_context);
}

Nftables::~Nftables()
{
    library().ctx_free(m_context);
}

void Nftables::run(std::string const& commands, std::string_view what)
{
    library().ctx_output_set_flags(m_context, 0);
    if (library().run_cmd_from_buffer(m_context, commands.c_str()) != 0)
        throw Error(fmt::format("nftables: {}: {}", what, first_line(library().ctx_get_error_buffer(m_context))));
}

std::optional<nlohmann::json> Nftables::list_rules()
{
    library().ctx_output_set_flags(m_context, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
    auto const command = fmt::format("list table {}", nftables_table);
    int const result = library().run_cmd_from_buffer(m_context, command.c_str());
    library().ctx_output_set_flags(m_context, 0);
    if (result != 0) {
        std::string const error = first_line(library().ctx_get_error_buffer(m_context));
        if (error.find("No such file or directory") != std::string::npos)
            return std::nullopt;
        throw Error(fmt::format("nftables: list table {}: {}", nftables_table, error));
    }
    auto document = nlohmann::json::parse(library().ctx_get_output_buffer(m_context), nullptr, false);
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
