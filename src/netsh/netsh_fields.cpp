#include "netsh/netsh_fields.h"

#include <charconv>

#include "text/ascii.h"
#include "text/quote.h"

namespace snibind::netsh {

namespace {

constexpr std::array<Family, 4> kFamilies{Family::ip, Family::host, Family::ccs,
                                          Family::scoped_ccs};

std::optional<std::uint32_t> parse_u32(std::string_view text) {
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

}  // namespace

const SslcertField* find_field_by_label(std::string_view label) {
    for (auto& f : kSslcertFields)
        if (f.label == label) return &f;
    return nullptr;
}

const SslcertField* find_field_by_parameter(std::string_view name) {
    for (auto& f : kSslcertFields)
        if (iequals(f.parameter, name)) return &f;
    return nullptr;
}

std::optional<Family> family_from_label(std::string_view label) {
    for (auto family : kFamilies) {
        RecordKey key;
        key.family = family;
        if (key.netsh_label() == label) return family;
    }
    return std::nullopt;
}

std::optional<Family> family_from_parameter(std::string_view name) {
    for (auto family : kFamilies)
        if (iequals(netsh_parameter(family), name)) return family;
    return std::nullopt;
}

std::string format_value(const SslcertField& f, const Record& r) {
    switch (f.kind) {
        case FieldKind::thumbprint:
            return r.certhash ? r.certhash->hex() : std::string(kNull);
        case FieldKind::guid:
            return r.appid ? r.appid->to_string() : std::string(kNull);
        case FieldKind::text: {
            const CompactText& s = r.*f.text;
            return s.empty() ? std::string(kNull) : s.str();
        }
        case FieldKind::number:
            return std::to_string(r.*f.number);
        case FieldKind::enabled_flag:
            return (r.flags & f.flag) ? "Enabled" : "Disabled";
        case FieldKind::set_flag:
            return (r.flags & f.flag) ? "Set" : "Not Set";
    }
    return {};
}

bool parse_shown_value(const SslcertField& f, std::string_view value, Record& r,
                       std::string& error) {
    switch (f.kind) {
        case FieldKind::thumbprint:
            if (value == kNull) {
                r.certhash.reset();
                return true;
            }
            r.certhash = Thumbprint::parse(value);
            if (!r.certhash) error = quote(value) + " is not a certificate hash (40 hex digits)";
            return r.certhash.has_value();
        case FieldKind::guid:
            if (value == kNull) {
                r.appid.reset();
                return true;
            }
            r.appid = Guid::parse(value);
            if (!r.appid) {
                error = quote(value) +
                        " is not an application ID (a GUID such as "
                        "{4dc3e181-e14b-4a21-b022-59fc669b0914})";
            }
            return r.appid.has_value();
        case FieldKind::text:
            r.*f.text = value == kNull ? std::string_view() : value;
            return true;
        case FieldKind::number:
            if (auto n = parse_u32(value)) {
                r.*f.number = *n;
                return true;
            }
            error =
                quote(value) + " is not a number (" + std::string(f.label) + " takes 0-4294967295)";
            return false;
        case FieldKind::enabled_flag:
        case FieldKind::set_flag: {
            bool enabled_kind = f.kind == FieldKind::enabled_flag;
            std::string_view on = enabled_kind ? "Enabled" : "Set";
            std::string_view off = enabled_kind ? "Disabled" : "Not Set";
            if (value == on || value == off) {
                r.set(static_cast<RecordFlag>(f.flag), value == on);
                return true;
            }
            error = quote(value) + " is not " + std::string(on) + "/" + std::string(off) + " (" +
                    std::string(f.label) + ")";
            return false;
        }
    }
    return false;
}

bool parse_parameter_value(const SslcertField& f, std::string_view value, Record& r,
                           std::string& error) {
    switch (f.kind) {
        case FieldKind::thumbprint:
            r.certhash = Thumbprint::parse(value);
            if (!r.certhash) {
                error = f.parameter;
                error += "=" + quote(value) + " is not a certificate hash (40 hex digits)";
            }
            return r.certhash.has_value();
        case FieldKind::guid:
            r.appid = Guid::parse(value);
            if (!r.appid) {
                error = f.parameter;
                error += "=" + quote(value) +
                         " is not a GUID (such as {4dc3e181-e14b-4a21-b022-59fc669b0914})";
            }
            return r.appid.has_value();
        case FieldKind::text:
            // The store file is `show sslcert` text: a value it could not print back unchanged
            // (a line break, a control byte, blanks at either end) is refused.
            for (char c : value) {
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                    error = f.parameter;
                    error += "= contains a control character";
                    return false;
                }
            }
            if (!value.empty() && (value.front() == ' ' || value.back() == ' ')) {
                error = f.parameter;
                error += "=" + quote(value) + " starts or ends with a blank";
                return false;
            }
            r.*f.text = value == kNull ? std::string_view() : value;
            return true;
        case FieldKind::number:
            if (auto n = parse_u32(value)) {
                r.*f.number = *n;
                return true;
            }
            error = f.parameter;
            error += "=" + quote(value) + " is not a number (0-4294967295)";
            return false;
        case FieldKind::enabled_flag:
        case FieldKind::set_flag:
            if (iequals(value, "enable") || iequals(value, "disable")) {
                r.set(static_cast<RecordFlag>(f.flag), iequals(value, "enable"));
                return true;
            }
            error = f.parameter;
            error += "=" + quote(value) + " is not enable or disable";
            return false;
    }
    return false;
}

std::string_view parameter_syntax(const SslcertField& f) {
    switch (f.kind) {
        case FieldKind::thumbprint:
            return "<40 hex digits>";
        case FieldKind::guid:
            return "<GUID>";
        case FieldKind::text:
            return "<string>";
        case FieldKind::number:
            return "<number>";
        case FieldKind::enabled_flag:
        case FieldKind::set_flag:
            return "enable|disable";
    }
    return "<value>";
}

std::string format_line(std::string_view label, std::string_view value) {
    std::string line(kIndent);
    line += label;
    if (label.size() + 1 < kLabelWidth) line.append(kLabelWidth - 1 - label.size(), ' ');
    line += " : ";
    line += value;
    line += '\n';
    return line;
}

}  // namespace snibind::netsh
