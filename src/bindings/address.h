#pragma once
// IP addresses and IP:port endpoints as HTTP.sys keys them (src/bindings/README.md S3, S4).
#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace snibind {

struct IpAddress {
    // IPv4 lives in the first four bytes. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is folded
    // to IPv4 on parse, because HTTP.sys treats it as the IPv4 address (S3).
    std::array<std::uint8_t, 16> bytes{};
    bool v6 = false;

    static IpAddress v4_any() { return {}; }
    static IpAddress v6_any() {
        IpAddress a;
        a.v6 = true;
        return a;
    }
    static IpAddress from_v4(std::uint32_t host_order);
    static IpAddress from_v6(const std::uint8_t (&b)[16]);

    // Accepts "10.0.0.5", "2001:db8::1" and "[2001:db8::1]"; nothing else.
    static std::optional<IpAddress> parse(std::string_view text);

    bool is_unspecified() const;
    // "10.0.0.5" or "2001:db8::1" (no brackets).
    std::string to_string() const;

    friend bool operator==(const IpAddress&, const IpAddress&) = default;
    friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

struct Endpoint {
    IpAddress addr;
    std::uint16_t port = 0;

    // "10.0.0.5:443", "[::1]:443". The port must be 1-65535.
    static std::optional<Endpoint> parse(std::string_view text);
    // As netsh prints it: "10.0.0.5:443", "[::]:443".
    std::string to_string() const;

    friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// Parses a decimal port 1-65535.
std::optional<std::uint16_t> parse_port(std::string_view text);

}  // namespace snibind
