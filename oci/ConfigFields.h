#pragma once

#include "common/Error.h"

#include <concepts>
#include <cstdint>
#include <fmt/format.h>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>
#include <type_traits>
#include <vector>

namespace vmm::oci {

template<typename T>
concept ConfigInteger = std::integral<T> && !std::same_as<T, bool>;

// An integer field's value: a JSON integer within T's range, as runc's
// typed decoding wants it. nlohmann would wrap -1 into a uint32_t and cut
// 1.5 to 1; here either is one line naming the field.
template<ConfigInteger T>
T config_integer(nlohmann::json const& value, std::string_view field)
{
    if (!value.is_number_integer())
        throw Error(fmt::format("config.json: {} must be an integer, not {} ({})", field, value.dump(), value.type_name()));
    bool in_range = false;
    if (value.is_number_unsigned())
        in_range = value.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
    else if constexpr (std::is_signed_v<T>)
        in_range = value.get<int64_t>() >= static_cast<int64_t>(std::numeric_limits<T>::min()) && value.get<int64_t>() <= static_cast<int64_t>(std::numeric_limits<T>::max());
    else
        in_range = value.get<int64_t>() >= 0;
    if (!in_range)
        throw Error(fmt::format("config.json: {} {} is out of range ({}-{})", field, value.dump(), std::numeric_limits<T>::min(), std::numeric_limits<T>::max()));
    return value.get<T>();
}

template<typename T>
struct IsIntegerVector : std::false_type { };
template<ConfigInteger T>
struct IsIntegerVector<std::vector<T>> : std::true_type { };

// A field's name in messages: "process.user.uid", or "KEY" at the top.
inline std::string field_name(std::string_view where, char const* key)
{
    return where.empty() ? std::string(key) : fmt::format("{}.{}", where, key);
}

// config.json's fields, read with their type checked: `fallback` where the
// field is absent or null, one line naming the field where it has the
// wrong type or (an integer) is out of the type's range.
template<typename T>
T get(nlohmann::json const& object, char const* key, T fallback, std::string_view where)
{
    auto it = object.find(key);
    if (it == object.end() || it->is_null())
        return fallback;
    auto const field = field_name(where, key);
    if constexpr (ConfigInteger<T>) {
        return config_integer<T>(*it, field);
    } else if constexpr (IsIntegerVector<T>::value) {
        if (!it->is_array())
            throw Error(fmt::format("config.json: {} must be an array, not {}", field, it->type_name()));
        T result;
        for (auto const& element : *it)
            result.push_back(config_integer<typename T::value_type>(element, field));
        return result;
    } else {
        // nlohmann takes an object for an array of its values: an array
        // field must be one.
        if constexpr (!std::same_as<T, std::string> && !std::same_as<T, nlohmann::json> && requires { typename T::value_type; }) {
            if (!it->is_array())
                throw Error(fmt::format("config.json: {} must be an array, not {}", field, it->type_name()));
        }
        try {
            return it->get<T>();
        } catch (nlohmann::json::exception const&) {
            throw Error(fmt::format("config.json: {} has the wrong type ({})", field, it->type_name()));
        }
    }
}

// An array of objects (mounts, hooks.*, linux.namespaces ...): empty where
// absent or null, one line naming the field where it or an element is not
// what it must be (an object would otherwise be walked as the list of its
// values, and a string element read as an object without fields).
inline nlohmann::json get_object_array(nlohmann::json const& object, char const* key, std::string_view where)
{
    auto it = object.find(key);
    if (it == object.end() || it->is_null())
        return nlohmann::json::array();
    auto const field = field_name(where, key);
    if (!it->is_array())
        throw Error(fmt::format("config.json: {} must be an array, not {}", field, it->type_name()));
    for (size_t index = 0; index < it->size(); ++index) {
        if (!(*it)[index].is_object())
            throw Error(fmt::format("config.json: {}[{}] must be an object, not {}", field, index, (*it)[index].type_name()));
    }
    return *it;
}

// An object field (process.user, linux.resources ...): the same for objects.
inline nlohmann::json get_object(nlohmann::json const& object, char const* key, std::string_view where)
{
    auto it = object.find(key);
    if (it == object.end() || it->is_null())
        return nlohmann::json::object();
    if (!it->is_object())
        throw Error(fmt::format("config.json: {} must be an object, not {}", field_name(where, key), it->type_name()));
    return *it;
}

}
