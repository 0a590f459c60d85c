#pragma once
// One list of names per selection setting (profile, precedence, trailing_dot, unusable_key,
// on_reject). Parsing, printing, help texts, error messages, the config, the CLI options and the
// console's menus all read the same list, so a name is spelled in exactly one place.
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace snibind {

template <typename E, std::size_t N>
struct SettingNames {
    std::string_view setting;  // "precedence", as the config spells the key
    std::array<std::pair<E, std::string_view>, N> entries;

    constexpr std::string_view name(E value) const {
        for (const auto& [e, n] : entries)
            if (e == value) return n;
        return entries[0].second;
    }
    constexpr std::optional<E> parse(std::string_view text) const {
        for (const auto& [e, n] : entries)
            if (n == text) return e;
        return std::nullopt;
    }
    // "sni-first or ip-first"; with separator ", " and last " or ": "a, b or c".
    std::string list(std::string_view last = " or ") const {
        std::string out;
        for (std::size_t i = 0; i < N; ++i) {
            if (i) out += i + 1 == N ? last : std::string_view(", ");
            out += entries[i].second;
        }
        return out;
    }
    // "'dns-first' is not sni-first or ip-first": every refusal of a name reads the same.
    std::string refusal(std::string_view text) const {
        return "'" + std::string(text) + "' is not " + list();
    }
};

}  // namespace snibind
