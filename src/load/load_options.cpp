#include "load/load_options.h"

#include <charconv>
#include <cmath>

namespace snibind::load {

namespace {

std::string_view trim(std::string_view s) {
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
}

// A non-negative finite decimal at the start of `text`; `rest` is what follows it.
std::optional<double> leading_number(std::string_view text, std::string_view& rest) {
    double value = 0;
    auto [end, ec] =
        std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
    if (ec != std::errc() || !std::isfinite(value) || value < 0) return std::nullopt;
    rest = text.substr(static_cast<std::size_t>(end - text.data()));
    return value;
}

// Seconds per unit, for durations and rates.
std::optional<double> unit_seconds(std::string_view unit) {
    if (unit.empty() || unit == "s") return 1.0;
    if (unit == "ms") return 1e-3;
    if (unit == "us") return 1e-6;
    if (unit == "ns") return 1e-9;
    if (unit == "m" || unit == "min") return 60.0;
    if (unit == "h") return 3600.0;
    return std::nullopt;
}

}  // namespace

std::string_view to_string(Mode m) {
    switch (m) {
        case Mode::hello:
            return "hello";
        case Mode::handshake:
            return "handshake";
        case Mode::resume:
            return "resume";
        case Mode::request:
            return "request";
    }
    return "?";
}

std::optional<Mode> parse_mode(std::string_view text) {
    for (Mode m : {Mode::hello, Mode::handshake, Mode::resume, Mode::request})
        if (text == to_string(m)) return m;
    return std::nullopt;
}

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
    std::string_view unit;
    auto value = leading_number(trim(text), unit);
    if (!value) return std::nullopt;
    auto scale = unit_seconds(unit);
    if (!scale) return std::nullopt;
    const double ns = *value * *scale * 1e9;
    if (ns > 1e18) return std::nullopt;
    return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns)));
}

std::optional<double> parse_rate(std::string_view text) {
    std::string_view rest;
    auto value = leading_number(trim(text), rest);
    if (!value) return std::nullopt;
    if (rest.empty()) return *value;
    if (rest.front() != '/') return std::nullopt;
    rest.remove_prefix(1);
    auto per = unit_seconds(rest);
    if (!per || rest.empty()) return std::nullopt;
    return *value / *per;
}

std::optional<double> parse_percent(std::string_view text) {
    std::string_view rest;
    auto value = leading_number(trim(text), rest);
    if (!value || !(rest.empty() || rest == "%") || *value > 100) return std::nullopt;
    return *value / 100.0;
}

std::optional<std::vector<IpAddress>> parse_address_list(std::string_view text) {
    std::vector<IpAddress> out;
    while (!text.empty()) {
        const auto cut = text.find_first_of(", ");
        auto item = text.substr(0, cut);
        text = cut == std::string_view::npos ? std::string_view{} : text.substr(cut + 1);
        if (item.empty()) continue;
        auto addr = IpAddress::parse(item);
        if (!addr) return std::nullopt;
        out.push_back(*addr);
    }
    if (out.empty()) return std::nullopt;
    return out;
}

std::vector<std::string> parse_names(std::string_view text) {
    std::vector<std::string> names;
    while (!text.empty()) {
        const auto eol = text.find('\n');
        auto line = trim(text.substr(0, eol));
        text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
        if (line.empty() || line.front() == '#') continue;
        names.emplace_back(line);
    }
    return names;
}

}  // namespace snibind::load
