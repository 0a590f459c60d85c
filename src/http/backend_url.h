#pragma once
// A site's backend, as the proxy config names it: "http://127.0.0.1:9101",
// "https://[::1]:9101", "https://legacy.example:443" (https: a legacy TLS server). Nothing after
// the port: the proxy sends each request's own path.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bindings/address.h"

namespace snibind::http {

struct BackendUrl {
    bool tls = false;
    std::string host;                  // a name or an address, without brackets
    std::optional<IpAddress> address;  // set when host is an address: no name to resolve
    std::uint16_t port = 0;

    // On failure returns nullopt and sets `why` ("the scheme must be http or https", ...).
    static std::optional<BackendUrl> parse(std::string_view url, std::string& why);
    std::string to_string() const;  // "https://[::1]:9101"
};

}  // namespace snibind::http
