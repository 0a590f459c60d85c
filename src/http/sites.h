#pragma once
// IIS sites and the HTTP.sys URL routing that picks one for a decrypted request
// (src/bindings/README.md I1, I5). Pure: no I/O.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bindings/address.h"

namespace snibind::http {

// One IIS binding, written as the proxy config and appcmd write it: "https/*:443:www.contoso.com",
// "https/10.0.0.5:443:", "http/*:80:" (protocol "/" bindingInformation, I1). `*` (any unassigned
// address) is an absent `ip`; an empty host means any host.
struct SiteBinding {
    std::string protocol;         // "https" or "http", lower case
    std::optional<IpAddress> ip;  // nullopt for "*"
    std::uint16_t port = 0;
    std::string host;  // normalised like a record key (L6: lower case, A-labels); empty = any

    // On failure returns nullopt and sets `error` ("port 0 is out of range", "expected
    // protocol/IP:port:host", ...).
    static std::optional<SiteBinding> parse(std::string_view text, std::string& error);
    // "https/*:443:www.contoso.com"
    std::string to_string() const;
    friend bool operator==(const SiteBinding&, const SiteBinding&) = default;
};

struct Site {
    std::string name;
    std::vector<SiteBinding> bindings;
    std::string backend;     // "http://127.0.0.1:9101", "https://..."; empty: the lab responder
    std::string path = "/";  // the URL path the site owns (an IIS application); "/" for the root
};

// The four URL-prefix categories of I5, strongest first.
enum class PrefixKind : std::uint8_t {
    strong_wildcard,  // https://+:443/
    explicit_host,    // https://www.contoso.com:443/
    ip_bound,         // https://10.0.0.5:443/ (a binding with an IP and no host)
    weak_wildcard,    // https://*:443/ (a binding with "*" and no host)
};
std::string_view to_string(PrefixKind k);

// One registered URL prefix, as HTTP.sys holds them: "https://www.contoso.com:443/app/".
struct UrlPrefix {
    PrefixKind kind = PrefixKind::weak_wildcard;
    std::string scheme;  // "https"
    std::string host;    // explicit_host only (normalised); "*.contoso.com" covers one label
    // ip_bound: the local address; explicit_host: set when the binding names both an IP and a
    // host ("10.0.0.5:443:www.contoso.com"), and then the connection must arrive on that IP too.
    std::optional<IpAddress> ip;
    std::uint16_t port = 0;
    std::string path = "/";  // always starts and ends with '/'
    std::size_t site = 0;    // index into the router's sites

    // "https://*:443/", "https://+:443/app/", "https://[2001:db8::1]:443/"; an IP-scoped
    // host is written "https://www.contoso.com:443:10.0.0.5/".
    std::string to_string() const;
};

// The prefix a binding registers (I5): "*:443:host" -> explicit host; "10.0.0.5:443:" ->
// ip_bound; "*:443:" -> weak wildcard; "10.0.0.5:443:host" -> explicit host scoped to that IP.
// (A strong wildcard comes only from a URL reservation.) `path` is made to start and end with '/'.
UrlPrefix prefix_for(const SiteBinding& binding, std::string_view path, std::size_t site);

// What the router decided for one request, for logs and the lab responder.
struct Route {
    const Site* site = nullptr;  // nullptr: 400 Bad Request - Invalid Hostname
    const UrlPrefix* prefix = nullptr;
};

class SiteRouter {
  public:
    SiteRouter() = default;
    explicit SiteRouter(std::vector<Site> sites);

    // I5 for one request on a connection to local address `dst`:`port` over `scheme`: the Host
    // header (port suffix and case ignored, "[::1]:8443" accepted) and the request target's path.
    // Category order strong wildcard, explicit host, IP-bound, weak wildcard; inside a category
    // the longest path prefix wins (compared case-insensitively, on whole segments). An empty
    // `host_header` means the request had none (HTTP/1.0): only IP-bound and wildcard prefixes
    // can match. A malformed Host header matches nothing. Does not allocate.
    Route route(std::string_view scheme, std::string_view host_header, const IpAddress& dst,
                std::uint16_t port, std::string_view path) const;

    // Registers one more prefix (a URL reservation's strong wildcard, issue 5). Its path is
    // normalised like prefix_for's and its host lower-cased. Throws std::out_of_range when
    // `prefix.site` is not an index into sites(). Invalidates the pointers of earlier Routes.
    void add_prefix(UrlPrefix prefix);

    const std::vector<Site>& sites() const { return sites_; }
    const std::vector<UrlPrefix>& prefixes() const { return prefixes_; }
    bool empty() const { return sites_.empty(); }

  private:
    std::vector<Site> sites_;
    std::vector<UrlPrefix> prefixes_;
};

}  // namespace snibind::http
