#pragma once
// Host-name normalisation, rule L6 of src/bindings/README.md, applied identically to the SNI a
// client sends and to the host names in configured record keys.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace snibind {

enum class TrailingDot { strip, reject };

// Why a name is not usable as a host name. Such a name is counted, treated as "no SNI" and never
// matched against a record (L3, L6).
enum class HostProblem {
    none,
    empty,         // zero-length name
    too_long,      // more than 255 bytes
    invalid_byte,  // NUL, space, slash, non-ASCII or other byte outside [A-Za-z0-9._-]
    empty_label,   // "a..b", ".a", "a.." (after at most one trailing dot is stripped)
    ip_literal,    // "10.0.0.5", "::1": a client connecting by address, not by name
    trailing_dot,  // "a.example." under trailing_dot: reject
};

// A short English reason, e.g. "contains byte 0x2f ('/') at offset 3".
std::string describe(HostProblem problem, std::string_view name);

// Normalises a host name received in SNI into `out` (ASCII lower case, one trailing dot stripped
// under TrailingDot::strip). Returns HostProblem::none on success; `out` is then the lookup host.
// Never allocates when `out` already has capacity.
HostProblem normalise_sni(std::string_view sni, TrailingDot trailing_dot, std::string& out);
// The longest name normalise_sni can accept: 255 bytes and a trailing dot.
inline constexpr std::size_t kMaxSniBytes = 256;
// The same into fixed storage (the reader's, so reading a hello touches no std::string);
// `out_length` is 0 unless the result is HostProblem::none.
HostProblem normalise_sni(std::string_view sni, TrailingDot trailing_dot,
                          std::span<char, kMaxSniBytes> out, std::size_t& out_length);

// Normalises a host name from configuration (a netsh key, a config file): like normalise_sni, but
// U-labels are converted to A-labels (IDNA 2008 via libidn2) and a leading "*." label is kept, as
// wildcard host records allow (from windows-2016). On failure returns false and sets `error`.
bool normalise_config_host(std::string_view name, TrailingDot trailing_dot, std::string& out,
                           std::string& error);

// Whether a configured name or pattern names `host`, ASCII case-insensitively: "*.contoso.com"
// stands for exactly one non-empty left-most label (hr.contoso.com, not contoso.com, not
// a.b.contoso.com), as for wildcard certificates (I7) and IIS 10 wildcard host bindings.
bool host_pattern_matches(std::string_view pattern, std::string_view host);

}  // namespace snibind
