#include "http/backend_url.h"

#include "tls/host_name.h"

namespace snibind::http {

std::optional<BackendUrl> BackendUrl::parse(std::string_view url, std::string& why) {
    auto reject = [&](std::string_view reason) {
        why = reason;
        return std::nullopt;
    };
    BackendUrl out;
    if (url.starts_with("http://")) {
        url.remove_prefix(7);
    } else if (url.starts_with("https://")) {
        out.tls = true;
        url.remove_prefix(8);
    } else {
        return reject("the scheme must be http or https");
    }
    auto colon = url.rfind(':');
    if (colon == std::string_view::npos) return reject("no port");
    auto port = parse_port(url.substr(colon + 1));
    if (!port) return reject("the port must be 1-65535, and nothing after it");
    out.port = *port;
    std::string_view host = url.substr(0, colon);
    bool bracketed = host.starts_with('[');
    if (!bracketed && host.find(':') != std::string_view::npos)
        return reject("an IPv6 address needs brackets");
    out.address = IpAddress::parse(host);
    if (bracketed || out.address) {
        if (!out.address) return reject("bad IPv6 address");
        if (bracketed) host = host.substr(1, host.size() - 2);
        out.host = host;
        return out;
    }
    std::string normalised, ignored;
    if (host.starts_with("*") ||
        !normalise_config_host(host, TrailingDot::strip, normalised, ignored))
        return reject("bad host name");
    out.host = host;
    return out;
}

std::string BackendUrl::to_string() const {
    bool v6 = host.find(':') != std::string::npos;
    return std::string(tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" +
           std::to_string(port);
}

}  // namespace snibind::http
