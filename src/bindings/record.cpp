#include "bindings/record.h"

#include <cstdio>
#include <cstring>
#include <functional>
#include <new>
#include <ostream>

#include "text/quote.h"
namespace snibind {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Parses exactly out.size()*2 hex digits.
template <std::size_t N>
bool parse_hex(std::string_view hex, std::array<std::uint8_t, N>& out) {
    if (hex.size() != N * 2) return false;
    for (std::size_t i = 0; i < N; ++i) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return true;
}

// The certificate store names netsh prints for nearly every record: shared, never allocated.
constexpr std::string_view kWellKnownText[] = {"MY", "My", "my", "WebHosting", "Root", "CA"};

bool is_well_known(const std::string_view* text) {
    std::less<const std::string_view*> before;
    return !before(text, std::begin(kWellKnownText)) && before(text, std::end(kWellKnownText));
}

void append_hex(std::string& s, std::uint8_t b) {
    static constexpr char digits[] = "0123456789abcdef";
    s += digits[b >> 4];
    s += digits[b & 15];
}

}  // namespace

void CompactText::assign(std::string_view s) {
    const std::string_view* next = nullptr;
    for (const auto& known : kWellKnownText)
        if (known == s) next = &known;
    if (!next && !s.empty()) {
        // One block: the view, then the characters it refers to.
        char* block = new char[sizeof(std::string_view) + s.size()];
        char* chars = block + sizeof(std::string_view);
        std::memcpy(chars, s.data(), s.size());
        next = new (block) std::string_view(chars, s.size());
    }
    release();
    text_ = next;
}

void CompactText::release() {
    if (text_ && !is_well_known(text_)) delete[] reinterpret_cast<const char*>(text_);
}

std::ostream& operator<<(std::ostream& out, const CompactText& text) {
    return out << text.view();
}

std::string_view netsh_parameter(Family f) {
    switch (f) {
        case Family::ip:
            return "ipport";
        case Family::host:
            return "hostnameport";
        case Family::ccs:
            return "ccs";
        case Family::scoped_ccs:
            return "scopedccs";
    }
    return "ipport";
}

std::optional<RecordKey> RecordKey::parse(Family family, std::string_view value, std::string& error,
                                          TrailingDot trailing_dot) {
    if (family == Family::ccs) {
        auto port = parse_port(value);
        if (!port) {
            error = quote(value) + " is not a port (1-65535)";
            return std::nullopt;
        }
        return ccs(*port);
    }
    auto colon = value.rfind(':');
    if (colon == std::string_view::npos) {
        error = quote(value) + " has no ':port'";
        return std::nullopt;
    }
    auto port = parse_port(value.substr(colon + 1));
    if (!port) {
        error = quote(value.substr(colon + 1)) + " is not a port (1-65535)";
        return std::nullopt;
    }
    if (family == Family::ip) {
        auto ep = Endpoint::parse(value);
        if (!ep) {
            error = quote(value.substr(0, colon)) +
                    " is not an IP address (IPv6 needs brackets: [::]:443)";
            return std::nullopt;
        }
        return ip(ep->addr, ep->port);
    }
    std::string host;
    if (!normalise_config_host(value.substr(0, colon), trailing_dot, host, error)) {
        return std::nullopt;
    }
    if (family == Family::scoped_ccs && host.starts_with("*.")) {
        error = "a scoped CCS key cannot be a wildcard";
        return std::nullopt;
    }
    return RecordKey{family, *port, {}, std::move(host)};
}

std::string_view RecordKey::netsh_label() const {
    return snibind::netsh_label(family);
}

std::string_view netsh_label(Family family) {
    switch (family) {
        case Family::ip:
            return "IP:port";
        case Family::host:
            return "Hostname:port";
        case Family::ccs:
            return "Central Certificate Store";
        case Family::scoped_ccs:
            return "Scoped CCS";
    }
    return "IP:port";
}

std::string RecordKey::netsh_value() const {
    switch (family) {
        case Family::ip:
            return Endpoint{addr, port}.to_string();
        case Family::ccs:
            return std::to_string(port);
        case Family::host:
        case Family::scoped_ccs:
            return host + ":" + std::to_string(port);
    }
    return {};
}

std::string RecordKey::display() const {
    return std::string(netsh_label()) + " " + netsh_value();
}

std::string Record::display_as_stored() const {
    if (host_as_written.empty() || key.family != Family::host) return key.display();
    return std::string(key.netsh_label()) + " " + host_as_written.str() + ":" +
           std::to_string(key.port);
}

std::string RecordKey::netsh_argument() const {
    return std::string(netsh_parameter(family)) + "=" + netsh_value();
}

std::optional<Thumbprint> Thumbprint::parse(std::string_view hex) {
    Thumbprint t;
    if (!parse_hex(hex, t.bytes)) return std::nullopt;
    return t;
}

std::string Thumbprint::hex() const {
    std::string s;
    s.reserve(40);
    for (auto b : bytes) append_hex(s, b);
    return s;
}

std::optional<Guid> Guid::parse(std::string_view text) {
    if (text.size() == 38 && text.front() == '{' && text.back() == '}') {
        text = text.substr(1, 36);
    }
    if (text.size() != 36) return std::nullopt;
    std::array<char, 32> digits;  // no allocation: a store holds a GUID per record
    std::size_t n = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash_position != (text[i] == '-')) return std::nullopt;
        if (!dash_position) digits[n++] = text[i];
    }
    Guid g;
    if (!parse_hex({digits.data(), digits.size()}, g.bytes)) return std::nullopt;
    return g;
}

std::string Guid::to_string() const {
    std::string s = "{";
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
        append_hex(s, bytes[i]);
    }
    return s + "}";
}

std::string_view to_string(RecordAction a) {
    return a == RecordAction::forward ? "forward" : "terminate";
}

}  // namespace snibind
