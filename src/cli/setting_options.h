#pragma once
// The selection settings as command-line options (--profile, --precedence, --trailing-dot,
// --unusable-key), checked and parsed by the core's one list of names for each
// (bindings/setting_names.h): explain, check and load accept and refuse the same words as the
// serve config and the console.
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "bindings/setting_names.h"

namespace snibind::cli {

// "unknown --precedence 'dns-first' (one of: sni-first, ip-first)"
template <typename E, std::size_t N>
std::string unknown_setting(const std::string& flag, const SettingNames<E, N>& names,
                            const std::string& text) {
    return "unknown " + flag + " '" + text + "' (one of: " + names.list(", ") + ")";
}

// Adds `flag`; when given, its value parsed into `out` (an E, or a std::optional<E> that stays
// empty when the option is not given).
template <typename E, std::size_t N, typename Out>
CLI::Option* add_setting_option(CLI::App* cmd, const std::string& flag, Out& out,
                                const SettingNames<E, N>& names, const std::string& help) {
    auto* option = cmd->add_option_function<std::string>(
        flag, [&out, &names](const std::string& text) { out = *names.parse(text); },
        help + ": " + names.list(", "));
    option->check(CLI::Validator(
        [&names, flag](std::string& text) {
            return names.parse(text) ? std::string() : unknown_setting(flag, names, text);
        },
        "", flag));
    return option;
}

}  // namespace snibind::cli
