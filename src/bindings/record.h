#pragma once
// The HTTP.sys SSL binding records (selection.md S1): four families, each unique per key.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bindings/address.h"
#include "tls/host_name.h"

namespace snibind {

enum class Family : std::uint8_t {
    ip,          // ipport=10.0.0.5:443, 0.0.0.0:443, [::]:443
    host,        // hostnameport=www.contoso.com:443, *.contoso.com:443
    ccs,         // ccs=443
    scoped_ccs,  // scopedccs=www.contoso.com:443
};

// What identifies a record. Host names are normalised (L6: lower case, A-labels, no trailing dot)
// so that equal keys compare equal; a wildcard host record keeps its "*." prefix.
struct RecordKey {
    Family family = Family::ip;
    std::uint16_t port = 0;
    IpAddress addr;    // Family::ip only
    std::string host;  // Family::host and Family::scoped_ccs only

    static RecordKey ip(IpAddress a, std::uint16_t port) { return {Family::ip, port, a, {}}; }
    static RecordKey hostname(std::string h, std::uint16_t port) {
        return {Family::host, port, {}, std::move(h)};
    }
    static RecordKey ccs(std::uint16_t port) { return {Family::ccs, port, {}, {}}; }
    static RecordKey scoped_ccs(std::string h, std::uint16_t port) {
        return {Family::scoped_ccs, port, {}, std::move(h)};
    }

    // Parses the value of a netsh key argument: for Family::ip "10.0.0.5:443" or "[::]:443";
    // for host families "www.contoso.com:443"; for ccs "443". On failure returns nullopt and sets
    // `error` to a reason ("port 0 is out of range", ...).
    static std::optional<RecordKey> parse(Family family, std::string_view value, std::string& error,
                                          TrailingDot trailing_dot = TrailingDot::strip);

    bool is_wildcard() const { return family == Family::host && host.starts_with("*."); }

    // netsh's label for the key line of `show sslcert`: "IP:port", "Hostname:port",
    // "Central Certificate Store", "Scoped CCS".
    std::string_view netsh_label() const;
    // netsh's value: "0.0.0.0:443", "[::]:443", "www.contoso.com:443", "443".
    std::string netsh_value() const;
    // The name used in `explain` and logs: label, a space, value ("IP:port 0.0.0.0:443").
    std::string display() const;
    // The argument that names it on a netsh command line ("ipport=0.0.0.0:443").
    std::string netsh_argument() const;

    friend bool operator==(const RecordKey&, const RecordKey&) = default;
};

// The netsh parameter for a family: "ipport", "hostnameport", "ccs", "scopedccs".
std::string_view netsh_parameter(Family f);

// SHA-1 thumbprint of the DER certificate, as Windows computes and prints it.
struct Thumbprint {
    std::array<std::uint8_t, 20> bytes{};
    // 40 hex digits, either case; nothing else.
    static std::optional<Thumbprint> parse(std::string_view hex);
    std::string hex() const;  // lower case, as netsh prints it
    friend bool operator==(const Thumbprint&, const Thumbprint&) = default;
};

// A GUID (application id): owner tag only, never used for selection.
struct Guid {
    std::array<std::uint8_t, 16> bytes{};
    // "{4dc3e181-e14b-4a21-b022-59fc669b0914}", braces optional, either case.
    static std::optional<Guid> parse(std::string_view text);
    std::string to_string() const;  // braces, lower case
    friend bool operator==(const Guid&, const Guid&) = default;
};

// Boolean settings of a record, as bits. The first group prints Enabled/Disabled in netsh, the
// second Set/Not Set (netsh/netsh_fields.h holds the full field table).
enum RecordFlag : std::uint32_t {
    kVerifyClientCertRevocation = 1u << 0,
    kVerifyRevocationCachedOnly = 1u << 1,
    kUsageCheck = 1u << 2,
    kDsMapperUsage = 1u << 3,
    kNegotiateClientCert = 1u << 4,
    kRejectConnections = 1u << 5,
    kDisableHttp2 = 1u << 6,
    kDisableQuic = 1u << 7,
    kDisableTls12 = 1u << 8,
    kDisableTls13 = 1u << 9,
    kDisableOcspStapling = 1u << 10,
    kEnableTokenBinding = 1u << 11,
    kLogExtendedEvents = 1u << 12,
    kDisableLegacyTls = 1u << 13,
    kEnableSessionTicket = 1u << 14,
};

// netsh's defaults for `add sslcert` when a parameter is not given.
inline constexpr std::uint32_t kDefaultRecordFlags = kVerifyClientCertRevocation | kUsageCheck;

// One " Extended Properties:" block of `show sslcert` (Windows 11 / Server 2022), kept verbatim.
struct ExtendedProperty {
    std::uint32_t id = 0;
    std::vector<std::pair<std::string, std::string>> fields;  // label, value; e.g. Receive Window
    friend bool operator==(const ExtendedProperty&, const ExtendedProperty&) = default;
};

struct Record {
    RecordKey key;
    std::optional<Thumbprint> certhash;  // CCS records have none
    std::optional<Guid> appid;
    std::string cert_store_name = "MY";  // empty prints "(null)"
    std::uint32_t flags = kDefaultRecordFlags;
    std::uint32_t revocation_freshness_time = 0;
    std::uint32_t url_retrieval_timeout = 0;
    std::string ctl_identifier;  // empty prints "(null)"
    std::string ctl_store_name;  // empty prints "(null)"
    std::vector<ExtendedProperty> extended_properties;
    // The host exactly as it was written when it differs from key.host (case, U-labels), so
    // that `show` prints a store back as it came ("SNI.IIS8.com:443").
    std::string host_as_written;
    // Not part of HTTP.sys: which `records:` entry of the serve config applies to this record
    // (its action, backend, ...), 0 for none (terminate). Carried into the Decision so the proxy
    // needs no second lookup per connection. netsh neither reads nor writes it.
    std::uint32_t action_id = 0;

    bool has(RecordFlag f) const { return (flags & f) != 0; }
    void set(RecordFlag f, bool on) { flags = on ? (flags | f) : (flags & ~f); }

    friend bool operator==(const Record&, const Record&) = default;
};

}  // namespace snibind
