#include "http/sites.h"

#include <algorithm>
#include <stdexcept>

#include "text/ascii.h"
#include "text/quote.h"
#include "tls/host_name.h"

namespace snibind::http {

namespace {

std::string bracketed(const IpAddress& ip) {
    return ip.v6 ? "[" + ip.to_string() + "]" : ip.to_string();
}

std::string normalised_path(std::string_view path) {
    std::string out;
    if (!path.starts_with('/')) out = "/";
    out += path;
    if (!out.ends_with('/')) out += '/';
    return out;
}

// The part of a request target HTTP.sys routes on: no query, no fragment. An empty target and
// the "*" of "OPTIONS *" address the root.
std::string_view routing_path(std::string_view target) {
    target = target.substr(0, target.find_first_of("?#"));
    if (target.empty() || target == "*") return "/";
    return target;
}

// Whole segments only: "/app/" covers "/app", "/app/" and "/app/x", never "/apple".
bool path_matches(std::string_view prefix_path, std::string_view path) {
    if (istarts_with(path, prefix_path)) return true;
    return iequals(path, prefix_path.substr(0, prefix_path.size() - 1));
}

// The host of a Host header, as a view into it: no allocation per request.
struct RequestHost {
    bool present = false;  // HTTP/1.0 requests may have no Host header
    bool valid = true;
    std::string_view name;  // no port, no trailing dot; an IPv6 literal keeps its brackets
    std::optional<IpAddress> literal;
};

// RFC 3986 allows "host:" with an empty port.
bool is_port_suffix(std::string_view rest) {
    if (rest.empty()) return true;
    if (rest.front() != ':') return false;
    return std::all_of(rest.begin() + 1, rest.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_host_name(std::string_view name) {
    if (name.empty() || name.size() > 255) return false;
    char previous = '.';
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok || (c == '.' && previous == '.')) return false;
        previous = c;
    }
    return true;
}

RequestHost parse_host_header(std::string_view header) {
    RequestHost host;
    header = trim_blanks(header);
    if (header.empty()) return host;
    host.present = true;
    if (header.starts_with('[')) {
        auto close = header.find(']');
        if (close == std::string_view::npos) {
            host.valid = false;
            return host;
        }
        host.name = header.substr(0, close + 1);
        host.literal = IpAddress::parse(host.name);
        host.valid = host.literal && host.name.find(':') != std::string_view::npos &&
                     is_port_suffix(header.substr(close + 1));
        return host;
    }
    auto colon = header.find(':');
    host.name = header.substr(0, colon);
    // Also rejects an unbracketed IPv6 address: what follows its first ':' is no port.
    if (colon != std::string_view::npos && !is_port_suffix(header.substr(colon))) {
        host.valid = false;
        return host;
    }
    if (host.name.ends_with('.')) host.name.remove_suffix(1);
    host.valid = is_host_name(host.name);
    if (host.valid && host.name.front() >= '0' && host.name.front() <= '9') {
        host.literal = IpAddress::parse(host.name);
    }
    return host;
}

// An explicit host is compared with the Host header's host. A Host that is an IP literal
// ("10.0.0.5", "[::1]") is what a client sends when it connects by address. HTTP.sys files a
// prefix whose host is an IP literal under IP-bound, which matches on the connection's local
// address, not on the Host header; and IIS bindings cannot carry an IP literal as host name
// (SiteBinding::parse refuses it). So such a Host in practice reaches only IP-bound and wildcard
// prefixes. An explicit prefix with a literal host can still be added by hand (add_prefix); it
// then matches the same address however it is written ("[::1]", "[0:0::1]").
bool explicit_host_matches(std::string_view prefix_host, const RequestHost& host) {
    if (!host.present) return false;
    if (host.literal) {
        auto configured = IpAddress::parse(prefix_host);
        return configured && *configured == *host.literal;
    }
    // IIS 10 wildcard host bindings: one left-most label, as for wildcard certificates (I7).
    return host_pattern_matches(prefix_host, host.name);
}

bool host_matches(const UrlPrefix& prefix, const RequestHost& host, const IpAddress& dst) {
    switch (prefix.kind) {
        case PrefixKind::strong_wildcard:
        case PrefixKind::weak_wildcard:
            return true;
        case PrefixKind::ip_bound:
            return prefix.ip && *prefix.ip == dst;
        case PrefixKind::explicit_host:
            if (prefix.ip && *prefix.ip != dst) return false;
            return explicit_host_matches(prefix.host, host);
    }
    return false;
}

// Lower is stronger. First the I5 category; among explicit hosts an exact name beats a wildcard
// name, and a host bound to the connection's IP beats the same host on every address (IIS
// serves a request from the binding whose every part matches).
int category_rank(const UrlPrefix& prefix) {
    int rank = static_cast<int>(prefix.kind) * 4;
    if (prefix.kind == PrefixKind::explicit_host) {
        if (prefix.host.starts_with("*.")) rank += 2;
        if (!prefix.ip) rank += 1;
    }
    return rank;
}

bool is_http_protocol(std::string_view protocol) {
    return iequals(protocol, "https") || iequals(protocol, "http");
}

}  // namespace

std::optional<SiteBinding> SiteBinding::parse(std::string_view text, std::string& error) {
    // protocol "/" IP ":" port ":" host, where IP may be "*", "10.0.0.5" or "[2001:db8::1]".
    auto slash = text.find('/');
    if (slash == std::string_view::npos || slash == 0) {
        error = "expected protocol/IP:port:host, as in https/*:443:www.contoso.com";
        return std::nullopt;
    }
    SiteBinding b;
    b.protocol = to_lower(text.substr(0, slash));
    if (b.protocol != "https" && b.protocol != "http") {
        error = "protocol " + quote(text.substr(0, slash)) + " is not http or https";
        return std::nullopt;
    }
    std::string_view info = text.substr(slash + 1);
    std::string_view ip_text;
    if (info.starts_with('[')) {
        auto close = info.find(']');
        if (close == std::string_view::npos) {
            error = "IPv6 address has no closing ']'";
            return std::nullopt;
        }
        ip_text = info.substr(0, close + 1);
        info.remove_prefix(close + 1);
    } else {
        auto colon = info.find(':');
        if (colon == std::string_view::npos) {
            error = "expected protocol/IP:port:host, as in https/*:443:www.contoso.com";
            return std::nullopt;
        }
        ip_text = info.substr(0, colon);
        info.remove_prefix(colon);
    }
    if (!info.starts_with(':')) {
        error = "expected ':' and a port after the address";
        return std::nullopt;
    }
    info.remove_prefix(1);
    auto colon = info.find(':');
    if (colon == std::string_view::npos) {
        error = "expected IP:port:host (the host may be empty, but its ':' may not)";
        return std::nullopt;
    }
    auto port = parse_port(info.substr(0, colon));
    if (!port) {
        error = "port " + quote(info.substr(0, colon)) + " is not 1-65535";
        return std::nullopt;
    }
    b.port = *port;
    if (ip_text != "*") {
        auto ip = IpAddress::parse(ip_text);
        if (!ip) {
            error = "address " + quote(ip_text) + " is not '*' or an IP address";
            return std::nullopt;
        }
        b.ip = *ip;
    }
    std::string_view host = info.substr(colon + 1);
    if (auto literal = IpAddress::parse(host)) {
        // normalise_config_host's advice ("use ipport=") is for netsh keys; a site binding puts
        // an address in its IP part instead.
        auto address = literal->v6 ? "[" + literal->to_string() + "]" : literal->to_string();
        error = "host " + quote(host) + " is an IP address: write " + b.protocol + "/" + address +
                ":" + std::to_string(b.port) + ":";
        return std::nullopt;
    }
    if (!host.empty()) {
        std::string why;
        if (!normalise_config_host(host, TrailingDot::strip, b.host, why)) {
            error = "host " + quote(host) + ": " + why;
            return std::nullopt;
        }
    }
    return b;
}

std::string SiteBinding::to_string() const {
    std::string ip_text = "*";
    if (ip) ip_text = ip->v6 ? "[" + ip->to_string() + "]" : ip->to_string();
    return protocol + "/" + ip_text + ":" + std::to_string(port) + ":" + host;
}

std::string_view to_string(PrefixKind k) {
    switch (k) {
        case PrefixKind::strong_wildcard:
            return "strong_wildcard";
        case PrefixKind::explicit_host:
            return "explicit_host";
        case PrefixKind::ip_bound:
            return "ip_bound";
        case PrefixKind::weak_wildcard:
            return "weak_wildcard";
    }
    return "unknown";
}

std::string UrlPrefix::to_string() const {
    std::string host_part;
    switch (kind) {
        case PrefixKind::strong_wildcard:
            host_part = "+";
            break;
        case PrefixKind::weak_wildcard:
            host_part = "*";
            break;
        case PrefixKind::ip_bound:
            host_part = ip ? bracketed(*ip) : "?";
            break;
        case PrefixKind::explicit_host:
            host_part = host;
            break;
    }
    std::string out = scheme + "://" + host_part + ":" + std::to_string(port);
    // HTTP.sys's documented syntax has no place for the IP of an IP-scoped host; this
    // "host:port:IP" form is snibind's own, for logs.
    if (kind == PrefixKind::explicit_host && ip) out += ":" + bracketed(*ip);
    return out + path;
}

UrlPrefix prefix_for(const SiteBinding& binding, std::string_view path, std::size_t site) {
    UrlPrefix prefix;
    prefix.scheme = to_lower(binding.protocol);
    prefix.port = binding.port;
    prefix.path = normalised_path(path);
    prefix.site = site;
    prefix.ip = binding.ip;
    if (!binding.host.empty()) {
        prefix.kind = PrefixKind::explicit_host;
        prefix.host = to_lower(binding.host);
    } else if (binding.ip) {
        prefix.kind = PrefixKind::ip_bound;
    } else {
        prefix.kind = PrefixKind::weak_wildcard;
    }
    return prefix;
}

SiteRouter::SiteRouter(std::vector<Site> sites) : sites_(std::move(sites)) {
    for (std::size_t i = 0; i < sites_.size(); ++i) {
        for (const auto& binding : sites_[i].bindings) {
            if (is_http_protocol(binding.protocol)) {
                prefixes_.push_back(prefix_for(binding, sites_[i].path, i));
            }
        }
    }
}

void SiteRouter::add_prefix(UrlPrefix prefix) {
    if (prefix.site >= sites_.size()) {
        throw std::out_of_range("URL prefix " + prefix.to_string() + " names site " +
                                std::to_string(prefix.site) + ", but there are " +
                                std::to_string(sites_.size()));
    }
    prefix.scheme = to_lower(prefix.scheme);
    prefix.host = to_lower(prefix.host);
    prefix.path = normalised_path(prefix.path);
    prefixes_.push_back(std::move(prefix));
}

Route SiteRouter::route(std::string_view scheme, std::string_view host_header, const IpAddress& dst,
                        std::uint16_t port, std::string_view path) const {
    const RequestHost host = parse_host_header(host_header);
    if (!host.valid) return {};
    const std::string_view request_path = routing_path(path);
    const UrlPrefix* best = nullptr;
    int best_rank = 0;
    for (const auto& prefix : prefixes_) {
        if (prefix.port != port || !iequals(prefix.scheme, scheme)) continue;
        if (!host_matches(prefix, host, dst) || !path_matches(prefix.path, request_path)) continue;
        const int rank = category_rank(prefix);
        // Equal prefixes cannot both be registered in HTTP.sys; here the first one added wins.
        if (!best || rank < best_rank ||
            (rank == best_rank && prefix.path.size() > best->path.size())) {
            best = &prefix;
            best_rank = rank;
        }
    }
    if (!best) return {};
    return {&sites_[best->site], best};
}

}  // namespace snibind::http
