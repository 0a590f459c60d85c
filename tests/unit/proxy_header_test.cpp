// The PROXY protocol header (HAProxy's proxy-protocol.txt, v1 and v2), read before the ClientHello
// (src/tls/README.md: "its destination address is the one that selection uses",
// src/bindings/README.md S3).
#include "proxy_protocol/proxy_header.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace snibind::proxy {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes bytes_of(std::string_view text) {
    return Bytes(text.begin(), text.end());
}

Bytes concat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

const Bytes kV2Signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

// A v2 header: signature, ver_cmd, fam, big-endian length of `body`, then `body`.
Bytes v2(std::uint8_t ver_cmd, std::uint8_t fam, const Bytes& body) {
    Bytes out = kV2Signature;
    out.push_back(ver_cmd);
    out.push_back(fam);
    out.push_back(static_cast<std::uint8_t>(body.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(body.size()));
    return concat(out, body);
}

// 192.0.2.1:56324 -> 198.51.100.7:443
const Bytes kInetBlock = {192, 0, 2, 1, 198, 51, 100, 7, 0xDC, 0x04, 0x01, 0xBB};
// [2001:db8::1]:56324 -> [2001:db8::2]:8443
const Bytes kInet6Block = {0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,    0,    0,    0,    0,    0,
                           0,    0,    0,    1,    0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,    0,
                           0,    0,    0,    0,    0,    0,    0,    2,    0xDC, 0x04, 0x20, 0xFB};
// PP2_TYPE_ALPN "h2" and PP2_TYPE_AUTHORITY "example.com".
const Bytes kTlvs = {0x01, 0x00, 0x02, 'h', '2', 0x02, 0x00, 0x0B, 'e', 'x',
                     'a',  'm',  'p',  'l', 'e', '.',  'c',  'o',  'm'};

// The first bytes of a TLS ClientHello record, to sit after a header.
const Bytes kHelloStart = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};

Endpoint ep(std::string_view text) {
    return *Endpoint::parse(text);
}

Endpoint ep_port0(std::string_view addr) {
    return Endpoint{*IpAddress::parse(addr), 0};
}

struct GoodCase {
    const char* name;
    Bytes header;
    ProxyVersion version;
    bool local;
    Endpoint src, dst;  // checked only when !local
};

std::vector<GoodCase> good_cases() {
    return {
        {"v1_tcp4", bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"), ProxyVersion::v1,
         false, ep("192.0.2.1:56324"), ep("198.51.100.7:443")},
        {"v1_tcp6", bytes_of("PROXY TCP6 2001:db8::1 2001:db8::2 56324 8443\r\n"), ProxyVersion::v1,
         false, ep("[2001:db8::1]:56324"), ep("[2001:db8::2]:8443")},
        {"v1_tcp6_uppercase_hex", bytes_of("PROXY TCP6 2001:DB8::1 2001:DB8::2 1 2\r\n"),
         ProxyVersion::v1, false, ep("[2001:db8::1]:1"), ep("[2001:db8::2]:2")},
        // S3: an IPv4-mapped destination is the IPv4 address for selection.
        {"v1_tcp6_mapped_folds", bytes_of("PROXY TCP6 ::ffff:192.0.2.1 ::ffff:10.0.0.5 1 443\r\n"),
         ProxyVersion::v1, false, ep("192.0.2.1:1"), ep("10.0.0.5:443")},
        {"v1_port_zero_and_max", bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 0 65535\r\n"),
         ProxyVersion::v1, false, ep_port0("192.0.2.1"), ep("198.51.100.7:65535")},
        {"v1_unknown", bytes_of("PROXY UNKNOWN\r\n"), ProxyVersion::v1, true, {}, {}},
        {"v1_unknown_with_ignored_rest",
         bytes_of("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"),
         ProxyVersion::v1,
         true,
         {},
         {}},
        {"v1_longest_tcp6",
         bytes_of("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65535\r\n"),
         ProxyVersion::v1, false, ep("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
         ep("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535")},
        {"v2_proxy_inet", v2(0x21, 0x11, kInetBlock), ProxyVersion::v2, false,
         ep("192.0.2.1:56324"), ep("198.51.100.7:443")},
        {"v2_proxy_inet6", v2(0x21, 0x21, kInet6Block), ProxyVersion::v2, false,
         ep("[2001:db8::1]:56324"), ep("[2001:db8::2]:8443")},
        {"v2_proxy_inet_with_tlvs", v2(0x21, 0x11, concat(kInetBlock, kTlvs)), ProxyVersion::v2,
         false, ep("192.0.2.1:56324"), ep("198.51.100.7:443")},
        {"v2_proxy_inet6_with_tlvs", v2(0x21, 0x21, concat(kInet6Block, kTlvs)), ProxyVersion::v2,
         false, ep("[2001:db8::1]:56324"), ep("[2001:db8::2]:8443")},
        {"v2_local_empty", v2(0x20, 0x00, {}), ProxyVersion::v2, true, {}, {}},
        // LOCAL: the family and the address block are ignored, whatever they say.
        {"v2_local_with_inet_block", v2(0x20, 0x11, kInetBlock), ProxyVersion::v2, true, {}, {}},
        {"v2_local_inet_short_block", v2(0x20, 0x11, {1, 2, 3}), ProxyVersion::v2, true, {}, {}},
        {"v2_proxy_unspec", v2(0x21, 0x00, {}), ProxyVersion::v2, true, {}, {}},
        {"v2_proxy_unix_stream", v2(0x21, 0x31, Bytes(216, 'x')), ProxyVersion::v2, true, {}, {}},
        {"v2_proxy_unix_short_block",
         v2(0x21, 0x31, Bytes(10, 'x')),
         ProxyVersion::v2,
         true,
         {},
         {}},
        {"v2_proxy_udp4", v2(0x21, 0x12, kInetBlock), ProxyVersion::v2, true, {}, {}},
        {"v2_proxy_udp6", v2(0x21, 0x22, kInet6Block), ProxyVersion::v2, true, {}, {}},
        {"v2_proxy_inet_unspec_protocol",
         v2(0x21, 0x10, kInetBlock),
         ProxyVersion::v2,
         true,
         {},
         {}},
        {"v2_at_max_length", v2(0x21, 0x11, concat(kInetBlock, Bytes(4096 - 16 - 12, 0))),
         ProxyVersion::v2, false, ep("192.0.2.1:56324"), ep("198.51.100.7:443")},
    };
}

class GoodHeader : public testing::TestWithParam<GoodCase> {};

void expect_header(const ProxyHeader& h, const GoodCase& c, std::size_t length) {
    EXPECT_EQ(h.version, c.version);
    EXPECT_EQ(h.local, c.local);
    EXPECT_EQ(h.length, length);
    if (!c.local) {
        EXPECT_EQ(h.src, c.src) << h.src.to_string();
        EXPECT_EQ(h.dst, c.dst) << h.dst.to_string();
    }
}

TEST_P(GoodHeader, ReadWhole) {
    const auto& c = GetParam();
    ProxyHeaderReader r;
    ASSERT_EQ(r.read(c.header), ProxyHeaderResult::done) << r.error();
    EXPECT_TRUE(r.error().empty());
    expect_header(r.header(), c, c.header.size());
}

// The hello directly after the header: header().length points at its first byte.
TEST_P(GoodHeader, HelloFollowsAtLength) {
    const auto& c = GetParam();
    Bytes data = concat(c.header, kHelloStart);
    ProxyHeaderReader r;
    ASSERT_EQ(r.read(data), ProxyHeaderResult::done) << r.error();
    expect_header(r.header(), c, c.header.size());
    EXPECT_EQ(data[r.header().length], 0x16);
}

// Every strict prefix is need_more and the full header is done, so the header may arrive split
// at any byte (the same property the ClientHello reader has, src/tls/README.md rule 1).
TEST_P(GoodHeader, EveryPrefixNeedsMore) {
    const auto& c = GetParam();
    ProxyHeaderReader r;
    for (std::size_t n = 0; n < c.header.size(); ++n) {
        ASSERT_EQ(r.read(std::span(c.header).first(n)), ProxyHeaderResult::need_more)
            << "prefix of " << n << " bytes: " << r.error();
    }
    ASSERT_EQ(r.read(c.header), ProxyHeaderResult::done) << r.error();
    expect_header(r.header(), c, c.header.size());
}

INSTANTIATE_TEST_SUITE_P(ProxyHeader, GoodHeader, testing::ValuesIn(good_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

struct BadCase {
    const char* name;
    Bytes data;
    std::string_view error;  // a fragment of error()
};

std::vector<BadCase> bad_cases() {
    Bytes bad_sig = v2(0x21, 0x11, kInetBlock);
    bad_sig[7] = 'q';
    Bytes v2_long = kV2Signature;
    for (std::uint8_t b : {0x21, 0x11, 0x0F, 0xF1}) v2_long.push_back(b);  // 16 + 4081 > 4096
    Bytes v2_huge = kV2Signature;
    for (std::uint8_t b : {0x21, 0x11, 0xFF, 0xFF}) v2_huge.push_back(b);
    std::string no_crlf = "PROXY UNKNOWN " + std::string(100, 'x');
    std::string crlf_at_108 = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";  // 108 bytes
    return {
        {"tls_record", kHelloStart, "not a PROXY header"},
        {"http_request", bytes_of("GET / HTTP/1.1\r\n"), "not a PROXY header"},
        {"v1_lowercase", bytes_of("proxy TCP4 "), "not a PROXY header"},
        {"v1_no_space_after_proxy", bytes_of("PROXYTCP4"), "not a PROXY header"},
        {"v2_bad_signature", bad_sig, "not a PROXY header"},
        {"v2_signature_then_garbage", bytes_of("\r\n\r\nGET"), "not a PROXY header"},
        {"v2_version_1", v2(0x11, 0x11, kInetBlock), "version"},
        {"v2_version_3", v2(0x31, 0x11, kInetBlock), "version"},
        {"v2_command_2", v2(0x22, 0x11, kInetBlock), "command"},
        {"v2_family_4", v2(0x21, 0x41, kInetBlock), "family"},
        {"v2_protocol_3", v2(0x21, 0x13, kInetBlock), "protocol"},
        {"v2_length_over_bound", v2_long, "too long"},
        {"v2_length_65535", v2_huge, "too long"},
        {"v2_inet_block_truncated", v2(0x21, 0x11, Bytes(11, 0)), "truncated address block"},
        {"v2_inet6_block_truncated", v2(0x21, 0x21, kInetBlock), "truncated address block"},
        {"v1_no_crlf_within_107", bytes_of(no_crlf), "no CRLF within 107 bytes"},
        {"v1_crlf_at_108", bytes_of(crlf_at_108), "no CRLF within 107 bytes"},
        {"v1_lf_only", bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 1 2\n"), "malformed"},
        {"v1_bad_protocol", bytes_of("PROXY UDP4 192.0.2.1 198.51.100.7 1 2\r\n"), "protocol"},
        {"v1_unknownx", bytes_of("PROXY UNKNOWNX\r\n"), "protocol"},
        {"v1_bad_ipv4", bytes_of("PROXY TCP4 192.0.2.256 198.51.100.7 1 2\r\n"), "address"},
        {"v1_ipv4_leading_zero", bytes_of("PROXY TCP4 192.0.2.01 198.51.100.7 1 2\r\n"), "address"},
        {"v1_ipv6_in_tcp4", bytes_of("PROXY TCP4 2001:db8::1 198.51.100.7 1 2\r\n"), "address"},
        {"v1_ipv4_in_tcp6", bytes_of("PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n"), "address"},
        {"v1_bracketed_ipv6", bytes_of("PROXY TCP6 [2001:db8::1] 2001:db8::2 1 2\r\n"), "address"},
        {"v1_bad_ipv6", bytes_of("PROXY TCP6 2001:db8:::1 2001:db8::2 1 2\r\n"), "address"},
        {"v1_hostname", bytes_of("PROXY TCP4 localhost 198.51.100.7 1 2\r\n"), "address"},
        {"v1_port_70000", bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 70000 443\r\n"), "port"},
        {"v1_port_65536", bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 1 65536\r\n"), "port"},
        {"v1_port_plus", bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 +1 443\r\n"), "port"},
        {"v1_port_minus", bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 -1 443\r\n"), "port"},
        {"v1_port_leading_zero", bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 01 443\r\n"), "port"},
        {"v1_port_hex", bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 0x1 443\r\n"), "port"},
        {"v1_empty_port", bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 1 \r\n"), "port"},
        {"v1_double_space", bytes_of("PROXY TCP4 192.0.2.1  198.51.100.7 1 2\r\n"), "address"},
        {"v1_tab", bytes_of("PROXY TCP4 192.0.2.1\t198.51.100.7 1 2\r\n"), "address"},
        {"v1_three_fields", bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 1\r\n"), "four fields"},
        {"v1_five_fields", bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 1 2 3\r\n"),
         "more than four fields"},
        {"v1_trailing_space", bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 1 2 \r\n"),
         "more than four fields"},
        {"v1_tcp4_no_fields", bytes_of("PROXY TCP4\r\n"), "protocol"},
    };
}

class BadHeader : public testing::TestWithParam<BadCase> {};

TEST_P(BadHeader, IsInvalidWithAReason) {
    const auto& c = GetParam();
    ProxyHeaderReader r;
    ASSERT_EQ(r.read(c.data), ProxyHeaderResult::invalid);
    EXPECT_NE(r.error().find(c.error), std::string_view::npos) << r.error();
    EXPECT_EQ(r.header().length, 0u);
}

// Once invalid, more bytes never make the data valid (the caller may stop reading at once).
TEST_P(BadHeader, StaysInvalidWithMoreBytes) {
    const auto& c = GetParam();
    ProxyHeaderReader r;
    ASSERT_EQ(r.read(concat(c.data, Bytes(200, 'A'))), ProxyHeaderResult::invalid);
}

INSTANTIATE_TEST_SUITE_P(ProxyHeader, BadHeader, testing::ValuesIn(bad_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// Garbage is refused at the first byte that cannot begin or continue a header.
TEST(ProxyHeaderEarlyReject, AtTheFirstWrongByte) {
    const std::vector<Bytes> cases = {
        {0x16},                                            // a TLS record: no PROXY header was sent
        {'G'},                                             // HTTP
        {'P', 'R', 'O', 'X', 'Z'},                         // v1 signature broken at byte 5
        {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0B},        // v2 signature broken at byte 7
        bytes_of("PROXY TCP5"),                            // no such protocol
        bytes_of("PROXY TCP4 192.0.2.x"),                  // not an IPv4 character
        bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 01"),  // a port with a leading zero
        bytes_of("PROXY TCP4 192.0.2.1 198.51.100.7 123456"),
        concat(kV2Signature, {0x31}),  // version 3
    };
    ProxyHeaderReader r;
    for (const auto& data : cases) {
        EXPECT_EQ(r.read(data), ProxyHeaderResult::invalid)
            << std::string(data.begin(), data.end());
        EXPECT_EQ(r.read(std::span(data).first(data.size() - 1)), ProxyHeaderResult::need_more)
            << std::string(data.begin(), data.end()) << ": " << r.error();
    }
}

TEST(ProxyHeaderReader, EmptyNeedsMore) {
    ProxyHeaderReader r;
    EXPECT_EQ(r.read({}), ProxyHeaderResult::need_more);
}

// The reader is reused: a later read forgets an earlier header or error.
TEST(ProxyHeaderReader, EachReadStartsAfresh) {
    ProxyHeaderReader r;
    Bytes good = v2(0x21, 0x11, kInetBlock);
    ASSERT_EQ(r.read(good), ProxyHeaderResult::done);
    ASSERT_EQ(r.read(kHelloStart), ProxyHeaderResult::invalid);
    EXPECT_EQ(r.header().length, 0u);
    ASSERT_EQ(r.read(good), ProxyHeaderResult::done);
    EXPECT_TRUE(r.error().empty());
    EXPECT_EQ(r.header().dst, ep("198.51.100.7:443"));
}

// ---- writing -----------------------------------------------------------------------------------

TEST(WriteProxyHeader, V1Tcp4Bytes) {
    auto out = write_proxy_header(ProxyVersion::v1, ep("192.0.2.1:56324"), ep("198.51.100.7:443"));
    std::string text(out.span().begin(), out.span().end());
    EXPECT_EQ(text, "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n");
}

TEST(WriteProxyHeader, V1MixedFamiliesAreWrittenAsMappedIpv6) {
    auto out = write_proxy_header(ProxyVersion::v1, ep("192.0.2.1:56324"), ep("[2001:db8::2]:443"));
    std::string text(out.span().begin(), out.span().end());
    EXPECT_EQ(text, "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 56324 443\r\n");
}

TEST(WriteProxyHeader, V2InetBytes) {
    auto out = write_proxy_header(ProxyVersion::v2, ep("192.0.2.1:56324"), ep("198.51.100.7:443"));
    Bytes written(out.span().begin(), out.span().end());
    EXPECT_EQ(written, v2(0x21, 0x11, kInetBlock));
}

TEST(WriteProxyHeader, V2Inet6Bytes) {
    auto out =
        write_proxy_header(ProxyVersion::v2, ep("[2001:db8::1]:56324"), ep("[2001:db8::2]:8443"));
    Bytes written(out.span().begin(), out.span().end());
    EXPECT_EQ(written, v2(0x21, 0x21, kInet6Block));
}

TEST(WriteProxyHeader, LongestFitTheAdvertisedSizes) {
    auto v6max = ep("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
    EXPECT_EQ(write_proxy_header(ProxyVersion::v1, v6max, v6max).size, 104u);
    EXPECT_EQ(write_proxy_header(ProxyVersion::v2, v6max, v6max).size, 52u);
    auto v4max = ep("255.255.255.255:65535");
    EXPECT_EQ(write_proxy_header(ProxyVersion::v1, v4max, v4max).size, 56u);
    EXPECT_EQ(write_proxy_header(ProxyVersion::v2, v4max, v4max).size, 28u);
}

struct RoundTripCase {
    const char* name;
    ProxyVersion version;
    Endpoint src, dst;
};

class RoundTrip : public testing::TestWithParam<RoundTripCase> {};

// Written then read gives the same endpoints back; a mapped IPv4 address folds back to IPv4 (S3).
TEST_P(RoundTrip, ReadGivesBackTheEndpoints) {
    const auto& c = GetParam();
    auto out = write_proxy_header(c.version, c.src, c.dst);
    ProxyHeaderReader r;
    ASSERT_EQ(r.read(out.span()), ProxyHeaderResult::done) << r.error();
    EXPECT_EQ(r.header().version, c.version);
    EXPECT_FALSE(r.header().local);
    EXPECT_EQ(r.header().length, out.size);
    EXPECT_EQ(r.header().src, c.src) << r.header().src.to_string();
    EXPECT_EQ(r.header().dst, c.dst) << r.header().dst.to_string();
}

std::vector<RoundTripCase> round_trip_cases() {
    std::vector<RoundTripCase> cases;
    for (auto version : {ProxyVersion::v1, ProxyVersion::v2}) {
        bool one = version == ProxyVersion::v1;
        cases.push_back(
            {one ? "v1_v4" : "v2_v4", version, ep("192.0.2.1:56324"), ep("198.51.100.7:443")});
        cases.push_back(
            {one ? "v1_v6" : "v2_v6", version, ep("[2001:db8::1]:1"), ep("[2001:db8::2]:65535")});
        cases.push_back({one ? "v1_v4_to_v6" : "v2_v4_to_v6", version, ep("192.0.2.1:56324"),
                         ep("[2001:db8::2]:443")});
        cases.push_back(
            {one ? "v1_v6_to_v4" : "v2_v6_to_v4", version, ep("[::1]:56324"), ep("127.0.0.1:443")});
        cases.push_back({one ? "v1_any" : "v2_any", version, ep_port0("0.0.0.0"), ep_port0("::")});
    }
    return cases;
}

INSTANTIATE_TEST_SUITE_P(ProxyHeader, RoundTrip, testing::ValuesIn(round_trip_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ParseProxyVersion, KnownNames) {
    EXPECT_EQ(parse_proxy_version("v1"), ProxyVersion::v1);
    EXPECT_EQ(parse_proxy_version("v2"), ProxyVersion::v2);
    EXPECT_FALSE(parse_proxy_version("V2"));
    EXPECT_FALSE(parse_proxy_version("2"));
    EXPECT_FALSE(parse_proxy_version(""));
}

}  // namespace
}  // namespace snibind::proxy
