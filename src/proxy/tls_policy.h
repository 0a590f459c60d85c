#pragma once
// The record flags that act after selection (src/bindings/README.md L7), as protocol versions.
#include <cstdint>
#include <span>

#include "bindings/record.h"

namespace snibind::proxy {

// TLS versions as on the wire: 0x0301 TLS 1.0 ... 0x0304 TLS 1.3.
struct VersionRange {
    std::uint16_t min = 0x0301, max = 0x0304;
    bool empty() const { return min > max; }
    bool contains(std::uint16_t v) const { return v >= min && v <= max; }
};

// Disable legacy TLS removes 1.0 and 1.1, disable TLS 1.2 and 1.3 remove those; what is left
// is the range a terminated connection may negotiate. (A flag removing a version in the middle,
// 1.2 alone, leaves 1.0-1.1 and 1.3; OpenSSL can only express a range, so the range keeps the
// upper part, which is what a modern client will negotiate anyway.)
constexpr VersionRange allowed_versions(std::uint32_t flags) {
    VersionRange r;
    if (flags & kDisableLegacyTls) r.min = 0x0303;
    if (flags & kDisableTls13) r.max = 0x0303;
    if (flags & kDisableTls12) {
        if (r.max == 0x0304)
            r.min = r.min > 0x0304 ? r.min : 0x0304;
        else
            r.max = 0x0302;
    }
    return r;
}

// Forward mode (L7): whether the client offers any version the record's flags allow. The proxy
// cannot narrow a handshake it does not terminate, so an unsatisfiable one fails at once.
inline bool offers_allowed_version(std::span<const std::uint16_t> offered, std::uint32_t flags) {
    VersionRange r = allowed_versions(flags);
    for (std::uint16_t v : offered)
        if (r.contains(v)) return true;
    return false;
}

// L7 "enable session ticket": whether a terminated connection may issue RFC 5077 / RFC 8446
// tickets. Without the flag a TLS 1.2 session resumes by its session id only. TLS 1.3 resumes
// by ticket alone; OpenSSL then sends a ticket that only names an entry of its session cache
// (a "stateful ticket", which SSL_OP_NO_TICKET asks for), which BoringSSL cannot do: there,
// refusing tickets would end TLS 1.3 resumption, so a connection that will negotiate TLS 1.3
// (the client offers it and the flags allow it: both stacks pick the highest common version)
// keeps its tickets, and resumption behaves the same on both stacks.
inline bool issues_tickets(std::span<const std::uint16_t> offered, std::uint32_t flags,
                           bool stateless_tls13_only) {
    if (flags & kEnableSessionTicket) return true;
    if (!stateless_tls13_only || !allowed_versions(flags).contains(0x0304)) return false;
    for (std::uint16_t v : offered)
        if (v == 0x0304) return true;
    return false;
}

}  // namespace snibind::proxy
