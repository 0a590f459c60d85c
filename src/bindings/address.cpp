#include "bindings/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace snibind {

IpAddress IpAddress::from_v4(std::uint32_t host_order) {
    IpAddress a;
    a.bytes[0] = static_cast<std::uint8_t>(host_order >> 24);
    a.bytes[1] = static_cast<std::uint8_t>(host_order >> 16);
    a.bytes[2] = static_cast<std::uint8_t>(host_order >> 8);
    a.bytes[3] = static_cast<std::uint8_t>(host_order);
    return a;
}

IpAddress IpAddress::from_v6(const std::uint8_t (&b)[16]) {
    static constexpr std::uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    IpAddress a;
    if (std::memcmp(b, mapped_prefix, 12) == 0) {
        std::memcpy(a.bytes.data(), b + 12, 4);
        return a;
    }
    std::memcpy(a.bytes.data(), b, 16);
    a.v6 = true;
    return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
        text = text.substr(1, text.size() - 2);
    }
    if (text.empty() || text.size() > 45) return std::nullopt;
    char buf[46];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    std::uint8_t raw[16];
    if (text.find(':') == std::string_view::npos) {
        if (inet_pton(AF_INET, buf, raw) != 1) return std::nullopt;
        IpAddress a;
        std::memcpy(a.bytes.data(), raw, 4);
        return a;
    }
    if (inet_pton(AF_INET6, buf, raw) != 1) return std::nullopt;
    return from_v6(raw);
}

bool IpAddress::is_unspecified() const {
    for (auto b : bytes)
        if (b != 0) return false;
    return true;
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
    return buf;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(value);
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto host = text.substr(0, colon);
    // A bare IPv6 address needs brackets, or its last group would be read as the port.
    if (host.find(':') != std::string_view::npos && (host.empty() || host.front() != '[')) {
        return std::nullopt;
    }
    auto addr = IpAddress::parse(host);
    auto port = parse_port(text.substr(colon + 1));
    if (!addr || !port) return std::nullopt;
    return Endpoint{*addr, *port};
}

std::string Endpoint::to_string() const {
    auto a = addr.to_string();
    return (addr.v6 ? "[" + a + "]" : a) + ":" + std::to_string(port);
}

}  // namespace snibind
