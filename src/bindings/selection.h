#pragma once
// select_certificate: the HTTP.sys lookup for one new connection (src/bindings/README.md L1-L9,
// section 3). Pure: no I/O, no allocation; the CCS folder and key checks come in through
// CertificateSource.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bindings/binding_table.h"
#include "bindings/profile.h"
#include "bindings/setting_names.h"
#include "tls/host_name.h"

namespace snibind {

enum class Precedence { sni_first, ip_first };  // L1, L2
enum class UnusableKey { fail, next };          // L9
enum class OnReject { reset, alert };           // L8

inline constexpr SettingNames<Precedence, 2> kPrecedenceNames{
    "precedence", {{{Precedence::sni_first, "sni-first"}, {Precedence::ip_first, "ip-first"}}}};
inline constexpr SettingNames<TrailingDot, 2> kTrailingDotNames{
    "trailing_dot", {{{TrailingDot::strip, "strip"}, {TrailingDot::reject, "reject"}}}};
inline constexpr SettingNames<UnusableKey, 2> kUnusableKeyNames{
    "unusable_key", {{{UnusableKey::fail, "fail"}, {UnusableKey::next, "next"}}}};
inline constexpr SettingNames<OnReject, 2> kOnRejectNames{
    "on_reject", {{{OnReject::reset, "reset"}, {OnReject::alert, "alert"}}}};

struct SelectionSettings {
    Profile profile = kDefaultProfile;
    Precedence precedence = Precedence::sni_first;
    TrailingDot trailing_dot = TrailingDot::strip;
    UnusableKey unusable_key = UnusableKey::fail;
    OnReject on_reject = OnReject::reset;
};

constexpr std::string_view to_string(Precedence p) {
    return kPrecedenceNames.name(p);
}
constexpr std::string_view to_string(UnusableKey u) {
    return kUnusableKeyNames.name(u);
}
constexpr std::string_view to_string(OnReject o) {
    return kOnRejectNames.name(o);
}
constexpr std::optional<Precedence> parse_precedence(std::string_view text) {
    return kPrecedenceNames.parse(text);
}
constexpr std::optional<TrailingDot> parse_trailing_dot(std::string_view text) {
    return kTrailingDotNames.parse(text);
}
constexpr std::optional<UnusableKey> parse_unusable_key(std::string_view text) {
    return kUnusableKeyNames.parse(text);
}
constexpr std::optional<OnReject> parse_on_reject(std::string_view text) {
    return kOnRejectNames.parse(text);
}

// The one spelling of a CCS file name (L1 step 3): "<host>.pfx", or for the wildcard file
// "_.<parent>.pfx". Built in place (selection asks it per connection, without allocating).
class CcsFileName {
  public:
    // wildcard: "_." + the host's parent; empty() when the host has no parent.
    CcsFileName(std::string_view host, bool wildcard);
    std::string_view view() const { return {name_.data(), size_}; }
    std::string str() const { return std::string(view()); }
    bool empty() const { return size_ == 0; }

  private:
    std::array<char, 8 + 256> name_{};
    std::size_t size_ = 0;
};

// What selection needs to know about certificates, beyond the records.
class CertificateSource {
  public:
    virtual ~CertificateSource() = default;
    // L1 step 3: whether the CCS folder holds this file (lower case, "www.contoso.com.pfx").
    virtual bool has_ccs_file(std::string_view /*file_name*/) const { return false; }
    // L9: whether the selected certificate's private key can be used. `ccs_file` is empty for
    // records that name a certificate by hash.
    virtual bool key_usable(const Record& /*record*/, std::string_view /*ccs_file*/) const {
        return true;
    }
};

// The steps of L1, named for what they look up.
enum class Step : std::uint8_t {
    sni_exact,     // 1. hostnameport S:P
    sni_wildcard,  // 2. hostnameport *.parent:P
    scoped_ccs,    // 3a. scopedccs S:P
    ccs,           // 3b. ccs P
    ip_exact,      // 4. ipport A:P
    ipv6_any,      // 5. ipport [::]:P
    ipv4_any,      // 6. ipport 0.0.0.0:P
};
std::string_view to_string(Step s);  // "sni_exact", ...

enum class StepResult : std::uint8_t { hit, miss, skipped, unusable_key };
std::string_view to_string(StepResult r);

// Why a step ended as it did; describe() turns it into a sentence.
enum class Reason : std::uint8_t {
    record_found,
    no_record,
    no_sni,               // L3: the client sent no server_name
    sni_not_host,         // L3, L6: the server_name is not a host name
    profile_no_sni,       // windows-2008r2: no SNI or CCS records
    profile_no_wildcard,  // before windows-2016
    profile_no_scoped,    // before windows-2022
    no_parent,            // the host has a single label: no *.parent to try
    not_ipv6,             // step 5 applies to IPv6 destinations only
    ccs_file_missing,     // a CCS record exists, but neither S.pfx nor _.parent.pfx
    key_unusable,         // L9
};

struct TraceStep {
    Step step;
    StepResult result;
    Reason reason;
};

enum class Outcome : std::uint8_t {
    selected,  // a record was chosen; serve its certificate (or the CCS file)
    rejected,  // L5: the chosen record has reject set; drop the connection
    no_match,  // L7/L8: nothing matched; drop the connection per on_reject
    failed,    // L9 under unusable_key: fail; the handshake fails
};
std::string_view to_string(Outcome o);

struct Connection {
    IpAddress dst;  // local address of the accepted socket, or the PROXY header's
    std::uint16_t port = 0;
    std::string_view host;  // the normalised SNI host (L6), empty when there is none
    HostProblem sni_problem = HostProblem::none;  // why there is no host, when SNI was sent
    bool sni_sent = false;
};

// A decided record's name as RecordKey::display() writes it ("Hostname:port *.contoso.com:443"),
// in a buffer of its own: the proxy names the record of every connection (stats, access log),
// and building a RecordKey and its strings for that took five allocations a connection.
class RecordName {
  public:
    std::string_view view() const { return {text_.data(), size_}; }

  private:
    friend class Decision;
    void append(std::string_view s);
    // The longest: "Central Certificate Store" or "Hostname:port", a space, "*." and a host of
    // 253 bytes, ":65535".
    std::array<char, 320> text_;
    std::size_t size_ = 0;
};

class Decision {
  public:
    Outcome outcome = Outcome::no_match;
    std::optional<Step> step;                       // the step that decided (not set on no_match)
    std::optional<Thumbprint> certhash;             // the certificate to serve (none for CCS)
    std::uint32_t flags = 0;                        // the chosen record's flags (L7)
    std::uint32_t action_id = 0;                    // the chosen record's Record::action_id
    RecordAction action = RecordAction::terminate;  // and what it does (Record::action)
    bool ccs_wildcard_file = false;                 // CCS: _.parent.pfx rather than S.pfx

    std::size_t trace_size = 0;
    std::array<TraceStep, 8> trace{};

    IpAddress dst;
    std::uint16_t port = 0;
    HostProblem sni_problem = HostProblem::none;
    // The host the decision was made for (copied, so the decision outlives the hello).
    std::string_view host() const { return {host_.data(), host_len_}; }

    // The record key a step looks up, for example "Hostname:port *.contoso.com:443".
    RecordKey key(Step s) const;
    // key(s).display(), without building the key.
    RecordName record_name(Step s) const;
    // The CCS file served, "www.contoso.com.pfx" or "_.contoso.com.pfx"; empty otherwise.
    std::string ccs_file() const;
    // A sentence for one trace step, for people ("no record for this key", ...).
    std::string describe(const TraceStep& t) const;

  private:
    friend Decision select_certificate(const BindingTable::Reader&, const Connection&,
                                       const SelectionSettings&, const CertificateSource*);
    std::array<char, 256> host_{};
    std::size_t host_len_ = 0;
};

Decision select_certificate(const BindingTable::Reader& table, const Connection& conn,
                            const SelectionSettings& settings,
                            const CertificateSource* certificates = nullptr);

// The record a decision chose, read from the table it was made on; nullptr when no step decided.
// Valid while `table` is.
const Record* chosen_record(const BindingTable::Reader& table, const Decision& d);

// The connection of a client that sent `sni` (nullopt: no server_name at all) to `dst`, the SNI
// normalised by L6 into `host`, which the Connection points into. For `explain` and the console.
Connection connection_for(const Endpoint& dst, std::optional<std::string_view> sni,
                          TrailingDot trailing_dot, std::string& host);

}  // namespace snibind
