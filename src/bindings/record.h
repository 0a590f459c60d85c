#pragma once
// The HTTP.sys SSL binding records (src/bindings/README.md S1): four families, each unique per key.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
// netsh's label for a family's key line: "IP:port", "Hostname:port", ...
std::string_view netsh_label(Family f);

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

// A text field of a Record that is nearly always empty or a well-known value ("MY"). A store can
// hold a million records, and a std::string costs 32 bytes each even when empty; this costs 8: no
// allocation for an empty or well-known value, one for anything else. Reads like a string.
class CompactText {
  public:
    CompactText() = default;
    explicit CompactText(std::string_view s) { assign(s); }
    CompactText(const CompactText& other) { assign(other.view()); }
    CompactText(CompactText&& other) noexcept : text_(std::exchange(other.text_, nullptr)) {}
    CompactText& operator=(const CompactText& other) {
        if (this != &other) assign(other.view());
        return *this;
    }
    CompactText& operator=(CompactText&& other) noexcept {
        std::swap(text_, other.text_);
        return *this;
    }
    CompactText& operator=(std::string_view s) {
        assign(s);
        return *this;
    }
    ~CompactText() { release(); }

    std::string_view view() const { return text_ ? *text_ : std::string_view(); }
    operator std::string_view() const { return view(); }
    std::string str() const { return std::string(view()); }
    bool empty() const { return text_ == nullptr; }
    std::size_t size() const { return view().size(); }
    void clear() {
        release();
        text_ = nullptr;
    }

    friend bool operator==(const CompactText& a, const CompactText& b) {
        return a.view() == b.view();
    }
    friend bool operator==(const CompactText& a, std::string_view b) { return a.view() == b; }
    friend bool operator==(const CompactText& a, const std::string& b) { return a.view() == b; }
    friend bool operator==(const CompactText& a, const char* b) {
        return a.view() == std::string_view(b);
    }

  private:
    void assign(std::string_view s);
    void release();

    // nullptr for "", else a well-known value (static) or a heap block that holds the view
    // followed by its characters.
    const std::string_view* text_ = nullptr;
};
std::ostream& operator<<(std::ostream& out, const CompactText& text);

// A list of a Record that is nearly always empty: 8 bytes and no allocation when empty.
template <class T>
class CompactList {
  public:
    CompactList() = default;
    CompactList(const CompactList& other)
        : items_(other.items_ && !other.items_->empty()
                     ? std::make_unique<std::vector<T>>(*other.items_)
                     : nullptr) {}
    CompactList(CompactList&&) noexcept = default;
    CompactList& operator=(const CompactList& other) {
        if (this != &other) *this = CompactList(other);
        return *this;
    }
    CompactList& operator=(CompactList&&) noexcept = default;
    CompactList& operator=(std::initializer_list<T> items) {
        items_ = items.size() ? std::make_unique<std::vector<T>>(items) : nullptr;
        return *this;
    }
    ~CompactList() = default;

    std::size_t size() const { return items_ ? items_->size() : 0; }
    bool empty() const { return size() == 0; }
    const T* begin() const { return items_ ? items_->data() : nullptr; }
    const T* end() const { return begin() + size(); }
    T* begin() { return items_ ? items_->data() : nullptr; }
    T* end() { return begin() + size(); }
    const T& operator[](std::size_t i) const { return (*items_)[i]; }
    T& operator[](std::size_t i) { return (*items_)[i]; }
    const T& at(std::size_t i) const { return vector().at(i); }
    T& back() { return items_->back(); }
    const T& back() const { return items_->back(); }
    template <class... Args>
    T& emplace_back(Args&&... args) {
        if (!items_) items_ = std::make_unique<std::vector<T>>();
        return items_->emplace_back(std::forward<Args>(args)...);
    }
    void clear() { items_.reset(); }

    friend bool operator==(const CompactList& a, const CompactList& b) {
        return a.size() == b.size() && (a.empty() || *a.items_ == *b.items_);
    }

  private:
    const std::vector<T>& vector() const {
        static const std::vector<T> kEmpty;
        return items_ ? *items_ : kEmpty;
    }
    std::unique_ptr<std::vector<T>> items_;
};

// Not part of HTTP.sys: what `snibind serve` does with a connection that selects the record (its
// `records:` or `applications:` entry). A forwarded record's certificate is the backend's to
// serve, so selection does not ask whether its key is usable here (L9).
enum class RecordAction : std::uint8_t { terminate, forward };
std::string_view to_string(RecordAction a);  // "terminate", "forward"

// A store of a hosting front end holds a million of these, twice while it loads: the rarely set
// fields are compact (152 bytes in all, rather than 272 with a std::string each).
struct Record {
    RecordKey key;
    std::optional<Thumbprint> certhash;  // CCS records have none
    std::optional<Guid> appid;
    CompactText cert_store_name{"MY"};  // empty prints "(null)"
    std::uint32_t flags = kDefaultRecordFlags;
    std::uint32_t revocation_freshness_time = 0;
    std::uint32_t url_retrieval_timeout = 0;
    // Not part of HTTP.sys: which `records:` entry of the serve config applies to this record
    // (its action, backend, ...), 0 for none (terminate). Carried into the Decision so the proxy
    // needs no second lookup per connection. netsh neither reads nor writes it.
    std::uint32_t action_id = 0;
    RecordAction action = RecordAction::terminate;  // what action_id's entry does
    CompactText ctl_identifier;                     // empty prints "(null)"
    CompactText ctl_store_name;                     // empty prints "(null)"
    CompactList<ExtendedProperty> extended_properties;
    // The host exactly as it was written when it differs from key.host (case, U-labels), so
    // that `show` prints a store back as it came ("SNI.IIS8.com:443").
    CompactText host_as_written;

    bool has(RecordFlag f) const { return (flags & f) != 0; }
    // key.display() with the host as the store holds it ("Hostname:port bücher.example:443"),
    // which is how netsh shows the record; the key itself is the lookup form (A-labels).
    std::string display_as_stored() const;
    void set(RecordFlag f, bool on) { flags = on ? (flags | f) : (flags & ~f); }

    friend bool operator==(const Record&, const Record&) = default;
};

}  // namespace snibind
