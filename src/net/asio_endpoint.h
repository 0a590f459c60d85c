#pragma once
// Conversions between snibind's Endpoint (the core's, I/O-free) and Asio's TCP endpoints.
#include <algorithm>

#include <boost/asio/ip/tcp.hpp>

#include "bindings/address.h"

namespace snibind::net {

inline boost::asio::ip::tcp::endpoint to_asio(const Endpoint& e) {
    namespace ip = boost::asio::ip;
    if (!e.addr.v6)
        return {
            ip::address_v4({e.addr.bytes[0], e.addr.bytes[1], e.addr.bytes[2], e.addr.bytes[3]}),
            e.port};
    ip::address_v6::bytes_type b;
    std::copy(e.addr.bytes.begin(), e.addr.bytes.end(), b.begin());
    return {ip::address_v6(b), e.port};
}

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) comes back as IPv4, as HTTP.sys treats it (S3).
inline Endpoint to_endpoint(const boost::asio::ip::tcp::endpoint& e) {
    Endpoint out;
    auto a = e.address();
    if (a.is_v4()) {
        out.addr = IpAddress::from_v4(a.to_v4().to_uint());
    } else {
        auto bytes = a.to_v6().to_bytes();
        std::uint8_t raw[16];
        std::copy(bytes.begin(), bytes.end(), raw);
        out.addr = IpAddress::from_v6(raw);
    }
    out.port = e.port();
    return out;
}

}  // namespace snibind::net
