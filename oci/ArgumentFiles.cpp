#include "oci/ArgumentFiles.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"

#include <charconv>
#include <fcntl.h>
#include <fmt/format.h>
#include <iostream>
#include <iterator>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm::oci {

using nlohmann::json;

namespace {

json read_json_argument(std::string const& path, char const* flag)
{
    std::string text;
    if (path == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        // Not a FIFO's open, which would wait for a writer.
        auto file = open_without_waiting(path, O_RDONLY);
        if (!file.is_valid())
            throw_system_error("open", fmt::format("{} ({})", path, flag));
        struct stat status {};
        if (::fstat(file.get(), &status) < 0)
            throw_system_error("fstat", fmt::format("{} ({})", path, flag));
        if (!S_ISREG(status.st_mode))
            throw Error(fmt::format("{} {}: not a regular file", flag, path));
        text = read_all(file.get());
    }
    try {
        return json::parse(text);
    } catch (json::exception const& error) {
        throw Error(fmt::format("{} {}: invalid JSON: {}", flag, path, error.what()));
    }
}

}

void read_object_argument(std::string const& path, char const* flag, std::function<void(json const&)> const& read)
{
    auto const object = read_json_argument(path, flag);
    try {
        if (!object.is_object())
            throw Error(fmt::format("must be a JSON object, not {}", object.type_name()));
        read(object);
    } catch (Error const& error) {
        // The readers are config.json's; their messages start with its name.
        std::string_view message(error.what());
        constexpr std::string_view config_prefix = "config.json: ";
        if (message.starts_with(config_prefix))
            message.remove_prefix(config_prefix.size());
        throw Error(fmt::format("{} {}: {}", flag, path, message));
    }
}

uint32_t parse_id(std::string const& text, std::string const& what)
{
    uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || value > 4294967294u)
        throw Error(fmt::format("{} '{}' is not a number from 0 to 4294967294", what, text));
    return static_cast<uint32_t>(value);
}

}
