#pragma once
// The one duration grammar of snibind, for the serve config's limits and the load generator's
// flags alike: a non-negative decimal and a unit, "5s", "500ms", "1.5s", "2m", "250us", "1h"; a
// bare number is seconds. Units: ns, us, ms, s, m (or min), h.
#include <charconv>
#include <chrono>
#include <cmath>
#include <optional>
#include <string_view>

#include "text/ascii.h"

namespace snibind {

// Seconds per unit ("" and "s": 1), for durations and for rates ("/s", "/ms").
inline std::optional<double> seconds_per_unit(std::string_view unit) {
    if (unit.empty() || unit == "s") return 1.0;
    if (unit == "ms") return 1e-3;
    if (unit == "us") return 1e-6;
    if (unit == "ns") return 1e-9;
    if (unit == "m" || unit == "min") return 60.0;
    if (unit == "h") return 3600.0;
    return std::nullopt;
}

// A non-negative finite decimal at the start of `text` (no exponent); `rest` is what follows.
inline std::optional<double> leading_number(std::string_view text, std::string_view& rest) {
    double value = 0;
    auto [end, ec] =
        std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
    if (ec != std::errc() || !std::isfinite(value) || value < 0) return std::nullopt;
    rest = text.substr(static_cast<std::size_t>(end - text.data()));
    return value;
}

// nullopt when `text` is not a duration or exceeds about 31 years.
inline std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
    std::string_view unit;
    auto value = leading_number(trim_whitespace(text), unit);
    if (!value) return std::nullopt;
    auto scale = seconds_per_unit(unit);
    if (!scale) return std::nullopt;
    const double ns = *value * *scale * 1e9;
    if (ns > 1e18) return std::nullopt;
    return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns)));
}

}  // namespace snibind
