// The ClientHello reader against real captures and variants derived from them; one test per case
// of src/tls/README.md, grouped as the spec groups them.
#include "tls/client_hello_reader.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "hello_fixtures.h"

namespace snibind {
namespace {

using test::Bytes;
using test::cat;
using test::fixture;
using test::fixtures;
using test::HelloParts;
using test::records;

// Feeds `bytes` in reads of the given sizes (the last size repeats), the way a socket delivers
// them into an append-only buffer. Calls finish() if the bytes run out first.
HelloResult feed(ClientHelloReader& r, const Bytes& bytes, std::vector<std::size_t> sizes = {}) {
    if (sizes.empty()) sizes = {bytes.size()};
    std::size_t have = 0, i = 0;
    while (have < bytes.size()) {
        have = std::min(bytes.size(),
                        have + std::max<std::size_t>(1, sizes[std::min(i++, sizes.size() - 1)]));
        auto res = r.read(std::span(bytes.data(), have));
        if (res != HelloResult::need_more) return res;
    }
    return r.finish();
}

HelloResult read_all(const Bytes& bytes, ReaderOptions options = {}) {
    ClientHelloReader r(options);
    return feed(r, bytes);
}

std::string error_of(const Bytes& bytes, ReaderOptions options = {}) {
    ClientHelloReader r(options);
    feed(r, bytes);
    return r.error();
}

Bytes openssl_hello() {
    return fixture("openssl-sni.bin").bytes;
}
HelloParts openssl_parts() {
    return HelloParts::parse(test::handshake_message(openssl_hello()));
}
Bytes with(const HelloParts& p) {
    return records(p.message());
}

std::vector<std::string> alpn_of(const ClientHello& h) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < h.alpn_count(); ++i) out.emplace_back(h.alpn(i));
    return out;
}

// Every real capture reads as its client meant it: SNI, ALPN, whole, one read.
TEST(RealClients, EachCaptureReadsWholeInOneRead) {
    for (const auto& f : fixtures()) {
        SCOPED_TRACE(f.file + " from " + f.client);
        ClientHelloReader r;
        ASSERT_EQ(feed(r, f.bytes), HelloResult::client_hello) << r.error();
        EXPECT_EQ(r.hello().has_sni(), !f.sni.empty());
        EXPECT_EQ(r.hello().sni(), f.sni);
        EXPECT_EQ(alpn_of(r.hello()), f.alpn);
        EXPECT_EQ(r.hello_end(), f.bytes.size());
        EXPECT_EQ(r.reads(), 1u);
    }
}

TEST(RealClients, ChromiumHasPostQuantumSizeAndGreaseEch) {
    const auto& f = fixture("chromium.bin");
    EXPECT_GT(f.bytes.size(), 1500u);
    ClientHelloReader r;
    ASSERT_EQ(feed(r, f.bytes), HelloResult::client_hello);
    EXPECT_TRUE(r.hello().ech());  // GREASE ECH: reported as present, routed on the outer SNI
    EXPECT_EQ(r.hello().host(), "www.example.com");
    auto v = r.hello().versions();
    EXPECT_EQ(std::vector<std::uint16_t>(v.begin(), v.end()),
              (std::vector<std::uint16_t>{0x0304, 0x0303}));  // GREASE version removed
}

TEST(RealClients, Tls12OnlyClientReportsLegacyVersion) {
    ClientHelloReader r;
    ASSERT_EQ(feed(r, fixture("openssl-tls12.bin").bytes), HelloResult::client_hello);
    auto v = r.hello().versions();
    EXPECT_EQ(std::vector<std::uint16_t>(v.begin(), v.end()), std::vector<std::uint16_t>{0x0303});
}

// --- Transport ---

TEST(Transport, ChromiumHelloInTwoReads) {
    const auto& bytes = fixture("chromium.bin").bytes;
    ClientHelloReader r;
    ASSERT_EQ(feed(r, bytes, {1000}), HelloResult::client_hello);
    EXPECT_EQ(r.reads(), 2u);
    EXPECT_EQ(r.hello().host(), "www.example.com");
}

TEST(Transport, OneBytePerReadForEveryClient) {
    for (const auto& f : fixtures()) {
        SCOPED_TRACE(f.file);
        ClientHelloReader r;
        ASSERT_EQ(feed(r, f.bytes, {1}), HelloResult::client_hello) << r.error();
        EXPECT_EQ(r.hello().sni(), f.sni);
        EXPECT_EQ(r.reads(), f.bytes.size());
    }
}

TEST(Transport, SplitInsideRecordHeader) {
    ClientHelloReader r;
    ASSERT_EQ(feed(r, openssl_hello(), {3, 10000}), HelloResult::client_hello);
    EXPECT_EQ(r.hello().host(), "www.example.com");
}

TEST(Transport, SplitInsideSniLengthsAndInsideName) {
    const auto& bytes = openssl_hello();
    const std::string name = "www.example.com";
    auto at = std::search(bytes.begin(), bytes.end(), name.begin(), name.end()) - bytes.begin();
    // Cut 4 bytes before the name (inside list length / type / name length) and 3 bytes into it.
    for (std::size_t cut : {static_cast<std::size_t>(at) - 4, static_cast<std::size_t>(at) - 1,
                            static_cast<std::size_t>(at) + 3}) {
        SCOPED_TRACE(cut);
        ClientHelloReader r;
        ASSERT_EQ(feed(r, bytes, {cut, 10000}), HelloResult::client_hello);
        EXPECT_EQ(r.hello().host(), "www.example.com");
    }
}

TEST(Transport, HelloLargerThanDefaultCapAcceptedUpToConfiguredCap) {
    auto p = openssl_parts();
    p.extensions.emplace_back(21, Bytes(20000, 0));  // padding
    auto bytes = records(p.message());
    EXPECT_EQ(read_all(bytes), HelloResult::too_large);  // default cap 16 KiB
    ReaderOptions big;
    big.max_hello_bytes = 64 * 1024;
    ClientHelloReader r(big);
    ASSERT_EQ(feed(r, bytes, {1400}), HelloResult::client_hello) << r.error();
    EXPECT_EQ(r.records(), 2u);
}

TEST(Transport, NothingSentIsIncomplete) {
    ClientHelloReader r;
    EXPECT_EQ(r.finish(), HelloResult::incomplete);
    EXPECT_EQ(r.error(), "the client sent nothing");
}

TEST(Transport, PartialHelloThenStallOrCloseIsIncomplete) {
    const auto& bytes = fixture("chromium.bin").bytes;
    for (std::size_t cut : {1u, 4u, 5u, 9u, 100u, 1986u}) {
        SCOPED_TRACE(cut);
        ClientHelloReader r;
        ASSERT_EQ(r.read(std::span(bytes.data(), cut)), HelloResult::need_more);
        EXPECT_EQ(r.finish(), HelloResult::incomplete);     // the deadline or the close ends it
        EXPECT_EQ(r.read(bytes), HelloResult::incomplete);  // and it stays ended
    }
}

// --- Record layer ---

TEST(RecordLayer, OneMessageAcrossTwoRecords) {
    auto m = test::handshake_message(fixture("chromium.bin").bytes);
    ClientHelloReader r;
    ASSERT_EQ(feed(r, records(m, m.size() / 2 + 1)), HelloResult::client_hello);
    EXPECT_EQ(r.records(), 2u);
    EXPECT_EQ(r.hello().host(), "www.example.com");
}

TEST(RecordLayer, ManyTwentyByteRecords) {
    auto m = test::handshake_message(fixture("chromium.bin").bytes);
    ClientHelloReader r;
    ASSERT_EQ(feed(r, records(m, 20), {7}), HelloResult::client_hello);
    EXPECT_EQ(r.records(), (m.size() + 19) / 20);
    EXPECT_TRUE(r.hello().ech());
}

TEST(RecordLayer, RealClientFragmentedHello) {
    ClientHelloReader r;
    ASSERT_EQ(feed(r, fixture("openssl-fragmented.bin").bytes), HelloResult::client_hello);
    EXPECT_EQ(r.records(), 2u);
    EXPECT_EQ(r.hello().sni_problem(), HostProblem::none);
}

TEST(RecordLayer, BoundaryInsideHandshakeHeader) {
    auto m = test::handshake_message(openssl_hello());
    for (std::size_t first : {1u, 2u, 3u}) {
        Bytes head(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(first));
        Bytes tail(m.begin() + static_cast<std::ptrdiff_t>(first), m.end());
        ClientHelloReader r;
        ASSERT_EQ(feed(r, cat(records(head), records(tail))), HelloResult::client_hello);
        EXPECT_EQ(r.hello().host(), "www.example.com");
    }
}

TEST(RecordLayer, ZeroLengthHandshakeRecordIsMalformed) {
    auto bytes = cat(Bytes{22, 3, 1, 0, 0}, openssl_hello());
    EXPECT_EQ(read_all(bytes), HelloResult::malformed);
    EXPECT_EQ(error_of(bytes), "zero-length handshake record");
}

TEST(RecordLayer, RecordOver16KiBIsRejectedFromItsHeaderAlone) {
    ClientHelloReader r;
    Bytes header = {22, 3, 1, 0x40, 0x01};  // 16385 bytes announced, none sent
    EXPECT_EQ(r.read(header), HelloResult::malformed);
    EXPECT_EQ(r.error(), "record length 16385 exceeds the TLS limit of 16384");
}

TEST(RecordLayer, FirstRecordNotHandshakeIsNotTls) {
    struct Case {
        const char* name;
        Bytes bytes;
    } cases[] = {
        {"alert", {21, 3, 3, 0, 2, 2, 40}},
        {"application data", {23, 3, 3, 0, 1, 0}},
        {"change cipher spec", {20, 3, 3, 0, 1, 1}},
        {"plain HTTP", Bytes{'G', 'E', 'T', ' ', '/'}},
        {"handshake type, not TLS version", {22, 'G', 'E', 'T', ' '}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(read_all(c.bytes), HelloResult::not_tls);
    }
    EXPECT_EQ(error_of(Bytes{'G', 'E', 'T'}), "the first byte is 0x47 ('G'): plain text, not TLS");
}

TEST(RecordLayer, RecordVersions0300_0301_0303Accepted) {
    auto m = test::handshake_message(openssl_hello());
    for (std::uint16_t v : {0x0300, 0x0301, 0x0303}) {
        SCOPED_TRACE(v);
        EXPECT_EQ(read_all(records(m, 16384, v)), HelloResult::client_hello);
    }
}

TEST(RecordLayer, OtherRecordTypeBetweenFragmentsIsMalformed) {
    auto m = test::handshake_message(openssl_hello());
    Bytes head(m.begin(), m.begin() + 100), tail(m.begin() + 100, m.end());
    auto bytes = cat(cat(records(head), Bytes{23, 3, 3, 0, 1, 0}), records(tail));
    EXPECT_EQ(read_all(bytes), HelloResult::malformed);
    EXPECT_EQ(error_of(bytes),
              "a application_data record (type 23) arrived between fragments of the ClientHello");
}

TEST(RecordLayer, BytesAfterTheHelloAreLeftForReplay) {
    Bytes ccs = {20, 3, 3, 0, 1, 1};  // TLS 1.3 middlebox-compatibility ChangeCipherSpec
    auto bytes = cat(openssl_hello(), ccs);
    ClientHelloReader r;
    ASSERT_EQ(feed(r, bytes), HelloResult::client_hello);
    EXPECT_EQ(r.hello_end(), openssl_hello().size());
    EXPECT_EQ(bytes.size() - r.hello_end(), ccs.size());
}

TEST(RecordLayer, HandshakeTypeOtherThanClientHelloIsMalformed) {
    auto m = test::handshake_message(openssl_hello());
    m[0] = 2;  // server_hello
    EXPECT_EQ(read_all(records(m)), HelloResult::malformed);
    EXPECT_EQ(error_of(records(m)), "handshake message server_hello (type 2), not a ClientHello");
}

TEST(RecordLayer, HugeHandshakeLengthInSmallRecordFailsBeforeAllocating) {
    Bytes bytes = {22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff};
    ClientHelloReader r;
    EXPECT_EQ(r.read(bytes), HelloResult::too_large);
    EXPECT_EQ(r.error(), "ClientHello of 16777219 bytes exceeds max_hello_bytes (16384)");
}

TEST(RecordLayer, TooManyRecordsIsTooLarge) {
    auto m = test::handshake_message(openssl_hello());
    ReaderOptions o;
    o.max_records = 10;
    EXPECT_EQ(read_all(records(m, 1), o), HelloResult::too_large);
}

// --- ClientHello body ---

TEST(Body, SessionIdOf0And32FineAnd33Malformed) {
    for (std::size_t n : {0u, 32u, 33u}) {
        auto p = openssl_parts();
        p.session_id.assign(n, 7);
        EXPECT_EQ(read_all(with(p)), n <= 32 ? HelloResult::client_hello : HelloResult::malformed)
            << n;
    }
}

TEST(Body, OddOrZeroCipherSuiteLengthIsMalformed) {
    for (std::size_t n : {0u, 3u}) {
        auto p = openssl_parts();
        p.cipher_suites.resize(n);
        EXPECT_EQ(read_all(with(p)), HelloResult::malformed) << n;
    }
}

TEST(Body, ZeroCompressionMethodsIsMalformed) {
    auto p = openssl_parts();
    p.compression.clear();
    EXPECT_EQ(read_all(with(p)), HelloResult::malformed);
    EXPECT_EQ(error_of(with(p)), "no compression methods");
}

TEST(Body, NoExtensionsBlockIsValidWithoutSni) {
    auto p = openssl_parts();
    p.has_extensions = false;
    p.extensions.clear();
    ClientHelloReader r;
    ASSERT_EQ(feed(r, with(p)), HelloResult::client_hello);
    EXPECT_FALSE(r.hello().has_sni());
}

// Choice: bytes after the extensions block are refused (as OpenSSL refuses them), since a
// ClientHello that the TLS server will reject is not worth routing.
TEST(Body, ExtensionsLengthDisagreeingOrTrailingBytesIsMalformed) {
    auto m = test::handshake_message(openssl_hello());
    auto longer = m;
    longer.push_back(0);  // one trailing byte after the extensions
    longer[3]++;          // the handshake length covers it
    EXPECT_EQ(read_all(records(longer)), HelloResult::malformed);
    EXPECT_TRUE(error_of(records(longer)).starts_with("extensions length "));
}

TEST(Body, ExtensionRunningPastTheBlockIsMalformed) {
    auto p = openssl_parts();
    auto m = p.message();
    // The last extension claims 0x1000 bytes more than it has.
    std::size_t last_len_at = m.size() - p.extensions.back().second.size() - 2;
    m[last_len_at] = 0x10;
    EXPECT_EQ(read_all(records(m)), HelloResult::malformed);
}

TEST(Body, SameExtensionTwiceIsMalformed) {
    auto p = openssl_parts();
    p.extensions.push_back(p.extensions.front());  // server_name again
    EXPECT_EQ(read_all(with(p)), HelloResult::malformed);
    EXPECT_EQ(error_of(with(p)), "extension 0x0000 appears twice");
}

TEST(Body, GreaseExtensionsAreSkippedEvenWhenRepeated) {
    auto p = openssl_parts();
    p.extensions.insert(p.extensions.begin(), {0x1a1a, Bytes{}});
    p.extensions.insert(p.extensions.begin() + 2, {0x1a1a, Bytes{0}});
    p.extensions.push_back({0xfafa, Bytes{}});
    ClientHelloReader r;
    ASSERT_EQ(feed(r, with(p)), HelloResult::client_hello) << r.error();
    EXPECT_EQ(r.hello().host(), "www.example.com");
}

TEST(Body, PaddingExtensionIsFine) {
    auto p = openssl_parts();
    p.extensions.emplace_back(21, Bytes(300, 0));
    EXPECT_EQ(read_all(with(p)), HelloResult::client_hello);
}

TEST(Body, LargeSessionTicketAndPreSharedKeyAreParsed) {
    auto p = openssl_parts();
    p.remove(35);
    p.extensions.emplace_back(35, Bytes(4500, 0xab));  // session_ticket
    Bytes psk;           // identities<7..>, binders<33..>, as a resuming client sends
    psk = {0x11, 0x9a};  // identities length 4506
    psk.insert(psk.end(), {0x11, 0x94});
    psk.insert(psk.end(), 4500, 0xcd);
    psk.insert(psk.end(), {0, 0, 0, 1});
    psk.insert(psk.end(), {0, 33, 32});
    psk.insert(psk.end(), 32, 0xef);
    p.extensions.emplace_back(41, psk);  // pre_shared_key, last as RFC 8446 requires
    ClientHelloReader r;
    ASSERT_EQ(feed(r, with(p), {1500}), HelloResult::client_hello) << r.error();
    EXPECT_EQ(r.hello().host(), "www.example.com");
}

TEST(Body, PreSharedKeyNotLastIsMalformed) {
    auto p = openssl_parts();
    p.extensions.insert(p.extensions.begin(), {41, Bytes(40, 0)});
    EXPECT_EQ(read_all(with(p)), HelloResult::malformed);
}

TEST(Body, Sslv2CompatibleHelloHasNoSniAndIsNotAnError) {
    // SSLv2-format CLIENT-HELLO offering TLS 1.0: 3 cipher specs, no session id, 16-byte challenge.
    Bytes b = {0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10};
    for (int i = 0; i < 7; ++i)
        b.insert(b.end(), {0x00, 0x00, static_cast<std::uint8_t>(0x2f + i)});
    b.insert(b.end(), 16, 0x42);
    ClientHelloReader r;
    ASSERT_EQ(feed(r, b, {2, 1}), HelloResult::client_hello) << r.error();
    EXPECT_TRUE(r.hello().sslv2_format());
    EXPECT_FALSE(r.hello().has_sni());
    EXPECT_EQ(r.hello().legacy_version(), 0x0301);
}

// --- server_name (RFC 6066) ---

TEST(ServerName, AbsentMeansTheIpBindingPath) {
    ClientHelloReader r;
    ASSERT_EQ(feed(r, fixture("openssl-nosni.bin").bytes), HelloResult::client_hello);
    EXPECT_FALSE(r.hello().has_sni());
    EXPECT_EQ(r.hello().host(), "");
}

TEST(ServerName, EmptyListIsMalformed) {
    auto p = openssl_parts();
    *p.extension(0) = {0, 0};
    EXPECT_EQ(read_all(with(p)), HelloResult::malformed);
    EXPECT_EQ(error_of(with(p)), "empty server_name list");
}

// Choice: another name type, even followed by a host_name, is refused as OpenSSL refuses it.
TEST(ServerName, OtherNameTypeFirstIsMalformed) {
    auto p = openssl_parts();
    Bytes ext = {0, 12, 1, 0, 1, 'x', 0, 0, 6, 'a', '.', 'b', '.', 'c'};
    ext[1] = static_cast<std::uint8_t>(ext.size() - 2);
    *p.extension(0) = ext;
    EXPECT_EQ(read_all(with(p)), HelloResult::malformed);
    EXPECT_EQ(error_of(with(p)), "server_name entry of type 1: only host_name (0) is defined");
}

TEST(ServerName, TwoHostNamesAreMalformed) {
    auto p = openssl_parts();
    Bytes ext = {0, 0, 0, 0, 3, 'a', '.', 'b', 0, 0, 3, 'c', '.', 'd'};
    ext[1] = static_cast<std::uint8_t>(ext.size() - 2);
    *p.extension(0) = ext;
    EXPECT_EQ(read_all(with(p)), HelloResult::malformed);
}

struct NameCase {
    std::string name;
    HostProblem problem;
    std::string host;  // when problem == none
};

TEST(ServerName, NamesThatAreNotHostNamesAreNeverRouted) {
    const NameCase cases[] = {
        {"", HostProblem::empty, ""},
        {std::string(256, 'a'), HostProblem::too_long, ""},
        {std::string(300, 'a'), HostProblem::too_long, ""},
        {std::string("a\0b.com", 7), HostProblem::invalid_byte, ""},
        {"a b.com", HostProblem::invalid_byte, ""},
        {"a/b.com", HostProblem::invalid_byte, ""},
        {"b\xc3\xbc"
         "cher.example",
         HostProblem::invalid_byte, ""},
        {"a..b", HostProblem::empty_label, ""},
        {".a.b", HostProblem::empty_label, ""},
        {"a.b..", HostProblem::empty_label, ""},
        {"10.0.0.5", HostProblem::ip_literal, ""},
        {"::1", HostProblem::ip_literal, ""},
        {"WwW.Example.COM", HostProblem::none, "www.example.com"},
        {"www.example.com.", HostProblem::none, "www.example.com"},
        {"xn--bcher-kva.example", HostProblem::none, "xn--bcher-kva.example"},
        {"under_score.example", HostProblem::none, "under_score.example"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name.substr(0, 40));
        auto p = openssl_parts();
        p.set_server_name(c.name);
        ClientHelloReader r;
        ASSERT_EQ(feed(r, with(p)), HelloResult::client_hello) << r.error();
        EXPECT_TRUE(r.hello().has_sni());
        EXPECT_EQ(r.hello().sni_problem(), c.problem);
        EXPECT_EQ(r.hello().host(), c.host);
        EXPECT_EQ(r.hello().sni_length(), c.name.size());
    }
}

TEST(ServerName, RealMixedCaseIdnAndTrailingDotCaptures) {
    struct {
        const char* file;
        TrailingDot dot;
        const char* host;
        HostProblem problem;
    } cases[] = {
        {"openssl-mixedcase.bin", TrailingDot::strip, "www.example.com", HostProblem::none},
        {"openssl-idn.bin", TrailingDot::strip, "xn--bcher-kva.example", HostProblem::none},
        {"openssl-trailingdot.bin", TrailingDot::strip, "www.example.com", HostProblem::none},
        {"openssl-trailingdot.bin", TrailingDot::reject, "", HostProblem::trailing_dot},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.file);
        ReaderOptions o;
        o.trailing_dot = c.dot;
        ClientHelloReader r(o);
        ASSERT_EQ(feed(r, fixture(c.file).bytes), HelloResult::client_hello);
        EXPECT_EQ(r.hello().host(), c.host);
        EXPECT_EQ(r.hello().sni_problem(), c.problem);
    }
}

// --- TLS 1.3, ECH, later hellos ---

TEST(Ech, OuterHelloRoutesOnPublicNameAndReportsEch) {
    auto p = openssl_parts();
    p.set_server_name("public.example.net");
    p.extensions.emplace_back(0xfe0d,
                              Bytes{0, 0, 1, 0, 1, 0x42, 0, 4, 1, 2, 3, 4, 0, 4, 5, 6, 7, 8});
    ClientHelloReader r;
    ASSERT_EQ(feed(r, with(p)), HelloResult::client_hello);
    EXPECT_TRUE(r.hello().ech());
    EXPECT_EQ(r.hello().host(), "public.example.net");
}

TEST(LaterHellos, ASecondClientHelloNeverChangesTheResult) {
    auto first = openssl_hello();
    auto p = openssl_parts();
    p.set_server_name("other.example.org");
    auto bytes = cat(first, with(p));  // as after a HelloRetryRequest or a renegotiation
    ClientHelloReader r;
    ASSERT_EQ(feed(r, bytes, {first.size(), 1}), HelloResult::client_hello);
    EXPECT_EQ(r.read(bytes), HelloResult::client_hello);
    EXPECT_EQ(r.hello().host(), "www.example.com");
    EXPECT_EQ(r.hello_end(), first.size());
}

TEST(Reuse, ResetReadsAnotherHello) {
    ClientHelloReader r;
    ASSERT_EQ(feed(r, fixture("chromium.bin").bytes, {20}), HelloResult::client_hello);
    r.reset();
    ASSERT_EQ(feed(r, fixture("openssl-nosni.bin").bytes), HelloResult::client_hello);
    EXPECT_FALSE(r.hello().has_sni());
    EXPECT_EQ(r.records(), 1u);
    EXPECT_FALSE(r.hello().ech());
}

}  // namespace
}  // namespace snibind
