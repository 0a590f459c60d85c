#include "load/load_options.h"

#include "text/duration.h"

namespace snibind::load {

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
    return snibind::parse_duration(text);  // the grammar the serve config uses too
}

std::optional<double> parse_rate(std::string_view text) {
    std::string_view rest;
    auto value = leading_number(trim_whitespace(text), rest);
    if (!value) return std::nullopt;
    if (rest.empty()) return *value;
    if (rest.front() != '/') return std::nullopt;
    rest.remove_prefix(1);
    auto per = seconds_per_unit(rest);
    if (!per || rest.empty()) return std::nullopt;
    return *value / *per;
}

std::optional<double> parse_percent(std::string_view text) {
    std::string_view rest;
    auto value = leading_number(trim_whitespace(text), rest);
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
        auto line = trim_whitespace(text.substr(0, eol));
        text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
        if (line.empty() || line.front() == '#') continue;
        names.emplace_back(line);
    }
    return names;
}

}  // namespace snibind::load
