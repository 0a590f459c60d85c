#pragma once
// The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): reading the header a load
// balancer puts in front of the ClientHello, and writing one in front of a forwarded stream.
// Pure: no I/O, no allocation.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "bindings/address.h"

namespace snibind::proxy {

enum class ProxyVersion : std::uint8_t { v1, v2 };

struct ProxyHeader {
    ProxyVersion version = ProxyVersion::v1;
    // v1 "UNKNOWN", v2 LOCAL, or a v2 family other than TCP over IPv4/IPv6: the addresses are
    // not carried, and the socket's own addresses apply.
    bool local = false;
    Endpoint src;  // the client, as the balancer saw it
    Endpoint dst;  // the address the client connected to: selection uses it (src/tls/README.md)
    std::size_t length = 0;  // bytes of the header, TLVs included; the ClientHello starts here
};

enum class ProxyHeaderResult : std::uint8_t {
    need_more,  // a valid prefix so far
    done,       // header() is set; the hello starts at header().length
    invalid,    // not a PROXY header, or a malformed one; error() says why
};

// Reads a header from the start of a connection. `data` is every byte received so far (the
// caller's append-only buffer, as ClientHelloReader takes it); each call re-examines it, which is
// cheap because a header is at most 107 bytes (v1) or 16 + 65535 bytes (v2, bounded below).
class ProxyHeaderReader {
  public:
    // A v2 header longer than this (TLVs included) is refused as invalid.
    static constexpr std::size_t kMaxV2Length = 4096;

    ProxyHeaderResult read(std::span<const std::uint8_t> data);
    const ProxyHeader& header() const { return header_; }
    // Why the header is invalid: "v1 header has no CRLF within 107 bytes", ...
    std::string_view error() const { return error_; }

  private:
    ProxyHeader header_{};
    std::string_view error_;
};

// A header to send before a forwarded stream: at most 108 bytes (v1 with two IPv6 addresses is
// 104, v2 with IPv6 is 52). If src and dst differ in family, both are written as IPv6
// (IPv4-mapped), since the protocol cannot mix them.
struct ProxyHeaderBytes {
    std::array<std::uint8_t, 108> bytes{};
    std::size_t size = 0;
    std::span<const std::uint8_t> span() const { return {bytes.data(), size}; }
};
ProxyHeaderBytes write_proxy_header(ProxyVersion version, const Endpoint& src, const Endpoint& dst);

std::optional<ProxyVersion> parse_proxy_version(std::string_view text);  // "v1", "v2"

}  // namespace snibind::proxy
