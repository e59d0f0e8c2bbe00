#pragma once

#include "common/Error.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <string_view>

namespace vmm::oci {

// config.json's fields, read with their type checked: `fallback` where the
// field is absent or null, one line naming the field where it has the
// wrong type.
template<typename T>
T get(nlohmann::json const& object, char const* key, T fallback, std::string_view where)
{
    auto it = object.find(key);
    if (it == object.end() || it->is_null())
        return fallback;
    try {
        return it->get<T>();
    } catch (nlohmann::json::exception const&) {
        throw Error(fmt::format("config.json: {}.{} has the wrong type ({})", where, key, it->type_name()));
    }
}

}
