#pragma once
// The one table of `netsh http show sslcert` fields (src/bindings/README.md S1 and section 3). The
// importer (netsh_text), the printer (netsh_text) and the command parser (netsh_command) all read
// it; a field is described here and nowhere else.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bindings/profile.h"
#include "bindings/record.h"

namespace snibind::netsh {

enum class FieldKind : std::uint8_t {
    thumbprint,    // Certificate Hash: 40 hex digits; "(null)" when absent (CCS records)
    guid,          // Application ID: {xxxxxxxx-...}; "(null)" when absent
    text,          // a string; an empty string prints "(null)"
    number,        // an unsigned 32-bit decimal
    enabled_flag,  // a RecordFlag printed Enabled/Disabled
    set_flag,      // a RecordFlag printed Set/Not Set
};

struct SslcertField {
    std::string_view label;      // exactly as `show sslcert` prints it
    std::string_view parameter;  // the netsh add/update parameter name (lower case)
    FieldKind kind;
    // The first profile that prints the field and whose netsh accepts the parameter.
    Profile since = Profile::windows_2008r2;
    std::uint32_t flag = 0;                   // the RecordFlag bit, *_flag kinds only
    CompactText Record::*text = nullptr;      // FieldKind::text only
    std::uint32_t Record::*number = nullptr;  // FieldKind::number only
};

// In the order Windows prints them.
inline constexpr std::array<SslcertField, 22> kSslcertFields{{
    {"Certificate Hash", "certhash", FieldKind::thumbprint},
    {"Application ID", "appid", FieldKind::guid},
    {"Certificate Store Name", "certstorename", FieldKind::text, Profile::windows_2008r2, 0,
     &Record::cert_store_name},
    {"Verify Client Certificate Revocation", "verifyclientcertrevocation", FieldKind::enabled_flag,
     Profile::windows_2008r2, kVerifyClientCertRevocation},
    {"Verify Revocation Using Cached Client Certificate Only",
     "verifyrevocationwithcachedclientcertonly", FieldKind::enabled_flag, Profile::windows_2008r2,
     kVerifyRevocationCachedOnly},
    {"Usage Check", "usagecheck", FieldKind::enabled_flag, Profile::windows_2008r2, kUsageCheck},
    {"Revocation Freshness Time", "revocationfreshnesstime", FieldKind::number,
     Profile::windows_2008r2, 0, nullptr, &Record::revocation_freshness_time},
    {"URL Retrieval Timeout", "urlretrievaltimeout", FieldKind::number, Profile::windows_2008r2, 0,
     nullptr, &Record::url_retrieval_timeout},
    {"Ctl Identifier", "sslctlidentifier", FieldKind::text, Profile::windows_2008r2, 0,
     &Record::ctl_identifier},
    {"Ctl Store Name", "sslctlstorename", FieldKind::text, Profile::windows_2008r2, 0,
     &Record::ctl_store_name},
    {"DS Mapper Usage", "dsmapperusage", FieldKind::enabled_flag, Profile::windows_2008r2,
     kDsMapperUsage},
    {"Negotiate Client Certificate", "clientcertnegotiation", FieldKind::enabled_flag,
     Profile::windows_2008r2, kNegotiateClientCert},
    {"Reject Connections", "reject", FieldKind::enabled_flag, Profile::windows_2016,
     kRejectConnections},
    {"Disable HTTP2", "disablehttp2", FieldKind::set_flag, Profile::windows_2016, kDisableHttp2},
    {"Disable QUIC", "disablequic", FieldKind::set_flag, Profile::windows_2022, kDisableQuic},
    {"Disable TLS1.2", "disabletls12", FieldKind::set_flag, Profile::windows_2022, kDisableTls12},
    {"Disable TLS1.3", "disabletls13", FieldKind::set_flag, Profile::windows_2022, kDisableTls13},
    {"Disable OCSP Stapling", "disableocspstapling", FieldKind::set_flag, Profile::windows_2019,
     kDisableOcspStapling},
    {"Enable Token Binding", "enabletokenbinding", FieldKind::set_flag, Profile::windows_2022,
     kEnableTokenBinding},
    {"Log Extended Events", "logextendedevents", FieldKind::set_flag, Profile::windows_2022,
     kLogExtendedEvents},
    {"Disable Legacy TLS Versions", "disablelegacytls", FieldKind::set_flag, Profile::windows_2019,
     kDisableLegacyTls},
    {"Enable Session Ticket", "enablesessionticket", FieldKind::set_flag, Profile::windows_2022,
     kEnableSessionTicket},
}};

// Extended Properties blocks (Windows 11 / Server 2022 era, tests/data/netsh/s1.txt) are printed
// from this profile on.
inline constexpr Profile kExtendedPropertiesSince = Profile::windows_2022;

// Layout of a `show sslcert` line: 4 spaces, the label and a blank left-justified in 29 columns so
// that the ':' is in column 34 (1-based), ": ", the value. A label of 29 or more characters is
// followed by " : " ("    Verify Client Certificate Revocation : Enabled").
inline constexpr std::string_view kIndent = "    ";
inline constexpr std::size_t kLabelWidth = 29;
inline constexpr std::string_view kNull = "(null)";

constexpr bool known_in(const SslcertField& f, Profile p) {
    return p >= f.since;
}

// The field with this exact `show sslcert` label, or nullptr.
const SslcertField* find_field_by_label(std::string_view label);
// The field with this add/update parameter name (case-insensitive, as netsh), or nullptr.
const SslcertField* find_field_by_parameter(std::string_view name);
// The key family whose `show sslcert` label (RecordKey::netsh_label) is `label`.
std::optional<Family> family_from_label(std::string_view label);
// The key family whose netsh parameter (netsh_parameter) is `name`, case-insensitive.
std::optional<Family> family_from_parameter(std::string_view name);

// The value as `show sslcert` prints it: "Enabled", "Not Set", "(null)", "0", ...
std::string format_value(const SslcertField& f, const Record& r);
// Parses a value as `show sslcert` prints it into `r`. On failure returns false and sets `error`
// ("'Maybe' is not Enabled/Disabled").
bool parse_shown_value(const SslcertField& f, std::string_view value, Record& r,
                       std::string& error);
// Parses the value of a netsh add/update parameter ("enable", "{guid}", "MY", "30") into `r`.
bool parse_parameter_value(const SslcertField& f, std::string_view value, Record& r,
                           std::string& error);
// The syntax of a parameter's value for usage and help texts: "enable|disable", "<GUID>", ...
std::string_view parameter_syntax(const SslcertField& f);

// One `show sslcert` line including its '\n': "    Usage Check                  : Enabled\n".
std::string format_line(std::string_view label, std::string_view value);

}  // namespace snibind::netsh
