#include "container/IdMapping.h"

#include "common/Error.h"

#include <algorithm>
#include <charconv>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace vmm::container {

namespace {

constexpr uint32_t container_id_count = 65536;
constexpr uint32_t first_candidate = 0x80000;
constexpr uint32_t last_candidate = 0x6fff0000;

bool parse_number(std::string_view text, uint32_t& value)
{
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size();
}

std::string read_text(char const* path)
{
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

}

std::vector<SubordinateEntry> parse_subordinate_ids(std::string_view text)
{
    std::vector<SubordinateEntry> entries;
    while (!text.empty()) {
        auto line_end = text.find('\n');
        auto line = text.substr(0, line_end);
        text = line_end == std::string_view::npos ? std::string_view() : text.substr(line_end + 1);
        auto first_colon = line.find(':');
        auto second_colon = first_colon == std::string_view::npos ? first_colon : line.find(':', first_colon + 1);
        if (second_colon == std::string_view::npos)
            continue;
        SubordinateEntry entry { std::string(line.substr(0, first_colon)), {} };
        if (!parse_number(line.substr(first_colon + 1, second_colon - first_colon - 1), entry.range.first)
            || !parse_number(line.substr(second_colon + 1), entry.range.count) || entry.range.count == 0)
            continue;
        entries.push_back(std::move(entry));
    }
    return entries;
}

IdRange choose_root_subordinate_range(std::vector<SubordinateEntry> const& entries)
{
    for (auto const& entry : entries) {
        if (entry.owner == "root" || entry.owner == "0")
            return { entry.range.first, std::min(entry.range.count, container_id_count) };
    }
    for (uint64_t first = first_candidate; first <= last_candidate; first += container_id_count) {
        IdRange candidate { static_cast<uint32_t>(first), container_id_count };
        bool taken = false;
        for (auto const& entry : entries)
            taken = taken || candidate.overlaps(entry.range);
        if (!taken)
            return candidate;
    }
    throw Error("--rootless: no free range of 65536 ids: give root one in /etc/subuid and /etc/subgid");
}

IdMapping rootless_id_mapping()
{
    if (::geteuid() != 0)
        return { { ::getuid(), 1 }, { ::getgid(), 1 } };
    // Ranges of both files are avoided for both: a user who owns some uids
    // must not own the container's gids either.
    auto users = parse_subordinate_ids(read_text("/etc/subuid"));
    auto groups = parse_subordinate_ids(read_text("/etc/subgid"));
    auto all = users;
    all.insert(all.end(), groups.begin(), groups.end());
    bool root_has_users = false;
    bool root_has_groups = false;
    for (auto const& entry : users)
        root_has_users = root_has_users || entry.owner == "root" || entry.owner == "0";
    for (auto const& entry : groups)
        root_has_groups = root_has_groups || entry.owner == "root" || entry.owner == "0";
    if (root_has_users && root_has_groups)
        return { choose_root_subordinate_range(users), choose_root_subordinate_range(groups) };
    auto range = choose_root_subordinate_range(all);
    return { range, range };
}

}
