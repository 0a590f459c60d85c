#include "tls/host_name.h"

#include <arpa/inet.h>
#include <idn2.h>

#include <array>
#include <cstdio>
#include <cstring>

#include "text/ascii.h"
#include "text/quote.h"

namespace snibind {

namespace {

constexpr std::size_t kMaxHostLength = 255;

// A host byte folded to ASCII lower case; 0 for a byte outside [A-Za-z0-9._-].
constexpr auto kFold = [] {
    std::array<unsigned char, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<unsigned char>(c);
    for (int c = 'a'; c <= 'z'; ++c) t[c] = static_cast<unsigned char>(c);
    for (int c = 'A'; c <= 'Z'; ++c) t[c] = static_cast<unsigned char>(c - 'A' + 'a');
    t['-'] = '-';
    t['.'] = '.';
    t['_'] = '_';
    return t;
}();

bool is_host_byte(unsigned char c) {
    return kFold[c] != 0;
}

bool is_ip_literal(std::string_view name) {
    if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
        name = name.substr(1, name.size() - 2);
    }
    if (name.empty() || name.size() > 45) return false;
    char buf[46];
    std::memcpy(buf, name.data(), name.size());
    buf[name.size()] = '\0';
    unsigned char raw[16];
    return inet_pton(AF_INET, buf, raw) == 1 || inet_pton(AF_INET6, buf, raw) == 1;
}

}  // namespace

std::string describe(HostProblem problem, std::string_view name) {
    switch (problem) {
        case HostProblem::none:
            return "a host name";
        case HostProblem::empty:
            return "empty name";
        case HostProblem::too_long:
            return "name is " + std::to_string(name.size()) + " bytes long (more than 255)";
        case HostProblem::invalid_byte:
            for (std::size_t i = 0; i < name.size(); ++i) {
                auto c = static_cast<unsigned char>(name[i]);
                if (!is_host_byte(c)) {
                    char buf[64];
                    if (c >= 0x21 && c < 0x7f) {
                        std::snprintf(buf, sizeof buf, "contains byte 0x%02x ('%c') at offset %zu",
                                      c, c, i);
                    } else {
                        std::snprintf(buf, sizeof buf, "contains byte 0x%02x at offset %zu", c, i);
                    }
                    return buf;
                }
            }
            return "contains a byte that is not allowed in a host name";
        case HostProblem::empty_label:
            return "has an empty label";
        case HostProblem::ip_literal:
            return "is an IP address, not a host name";
        case HostProblem::trailing_dot:
            return "ends with a dot (trailing_dot: reject)";
    }
    return "not a host name";
}

static_assert(kMaxSniBytes == kMaxHostLength + 1);

HostProblem normalise_sni(std::string_view sni, TrailingDot trailing_dot,
                          std::span<char, kMaxSniBytes> out, std::size_t& out_length) {
    out_length = 0;
    const std::size_t n = sni.size();
    if (n == 0) return HostProblem::empty;
    if (n > kMaxSniBytes) return HostProblem::too_long;
    // One pass that folds, validates and finds empty labels, without branches per byte: names
    // are short, so a call per check (find, memchr) costs more than the bytes themselves.
    unsigned invalid = 0, double_dot = 0, previous_dot = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char folded = kFold[static_cast<unsigned char>(sni[i])];
        out[i] = static_cast<char>(folded);
        const unsigned dot = folded == '.';
        invalid |= folded == 0;
        double_dot |= dot & previous_dot;
        previous_dot = dot;
    }
    if (invalid) {
        // An IPv6 literal has ':' and is reported as such rather than as a bad byte.
        return is_ip_literal(sni) ? HostProblem::ip_literal : HostProblem::invalid_byte;
    }
    std::size_t length = n;
    if (n > 1 && sni[n - 1] == '.' && sni[n - 2] != '.') {
        if (trailing_dot == TrailingDot::reject) return HostProblem::trailing_dot;
        --length;
    }
    // A stripped dot followed a non-dot, so the name has ".." exactly when the stripped one has.
    if (length > kMaxHostLength) return HostProblem::too_long;
    if (out[0] == '.' || double_dot || out[length - 1] == '.') return HostProblem::empty_label;
    // Only a name ending in a digit can be an IPv4 literal (IPv6 has ':' and was handled above).
    if (sni[length - 1] >= '0' && sni[length - 1] <= '9' && is_ip_literal(sni.substr(0, length)))
        return HostProblem::ip_literal;
    out_length = length;
    return HostProblem::none;
}

HostProblem normalise_sni(std::string_view sni, TrailingDot trailing_dot, std::string& out) {
    std::array<char, kMaxSniBytes> buf;
    std::size_t length = 0;
    const HostProblem problem = normalise_sni(sni, trailing_dot, buf, length);
    out.assign(buf.data(), length);
    return problem;
}

bool normalise_config_host(std::string_view name, TrailingDot trailing_dot, std::string& out,
                           std::string& error) {
    std::string_view rest = name;
    bool wildcard = rest.starts_with("*.");
    if (wildcard) rest.remove_prefix(2);

    bool ascii = true;
    for (char c : rest) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    std::string a_labels;
    if (!ascii) {
        // A U-label name from configuration: convert to the A-labels clients send in SNI.
        char* converted = nullptr;
        std::string input(rest);
        int rc = idn2_lookup_u8(reinterpret_cast<const uint8_t*>(input.c_str()),
                                reinterpret_cast<uint8_t**>(&converted),
                                IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
        if (rc != IDN2_OK) {
            error = quote(name) + " is not a valid internationalised name: " + idn2_strerror(rc);
            return false;
        }
        a_labels = converted;
        idn2_free(converted);
        rest = a_labels;
    }
    auto problem = normalise_sni(rest, trailing_dot, out);
    if (problem == HostProblem::ip_literal) {
        error = quote(name) + " is an IP address: use ipport= for IP records";
        return false;
    }
    if (problem != HostProblem::none) {
        error = quote(name) + " is not a host name: " + describe(problem, rest);
        return false;
    }
    if (wildcard) out.insert(0, "*.");
    return true;
}

bool host_pattern_matches(std::string_view pattern, std::string_view host) {
    if (!pattern.starts_with("*.")) return iequals(pattern, host);
    const std::string_view parent = pattern.substr(1);  // ".contoso.com"
    if (host.size() <= parent.size() || !iends_with(host, parent)) return false;
    return host.substr(0, host.size() - parent.size()).find('.') == std::string_view::npos;
}

}  // namespace snibind
