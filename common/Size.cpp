#include "common/Size.h"

#include "common/Error.h"

#include <cctype>
#include <charconv>
#include <limits>
#include <string>

namespace vmm {

uint64_t parse_size(std::string_view text, std::string_view what)
{
    auto fail = [&]() -> uint64_t {
        throw Error(std::string(what) + ": '" + std::string(text) + "' is not a size (examples: 512M, 2G, 1048576)");
    };
    uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end == text.data())
        return fail();
    std::string suffix(end, text.data() + text.size());
    for (auto& character : suffix)
        character = static_cast<char>(std::toupper(static_cast<unsigned char>(character)));
    if (suffix.ends_with("IB"))
        suffix.resize(suffix.size() - 2);
    else if (suffix.size() == 2 && suffix.ends_with("B"))
        suffix.resize(suffix.size() - 1);
    unsigned shift = 0;
    if (suffix.empty() || suffix == "B")
        shift = 0;
    else if (suffix == "K")
        shift = 10;
    else if (suffix == "M")
        shift = 20;
    else if (suffix == "G")
        shift = 30;
    else if (suffix == "T")
        shift = 40;
    else
        return fail();
    if (value > (std::numeric_limits<uint64_t>::max() >> shift))
        return fail();
    return value << shift;
}

}
