// Differential test: OpenSSL's own ClientHello parser as an oracle for ClientHelloReader.
//
// How the oracle works. A server SSL_CTX (TLS_server_method, a throwaway self-signed P-256
// certificate made in-process) gets a client_hello callback. The raw bytes go into a memory BIO
// (BIO_s_mem, EOF reported as "retry" so that OpenSSL waits instead of failing at the end of the
// input) and SSL_accept runs once. We record three things:
//
//   1. whether the client_hello callback ran, and the server_name extension it saw
//      (SSL_client_hello_get0_ext, parsed here: the first host_name entry);
//   2. whether the handshake went on past the hello: SSL_accept wrote its ServerHello flight and
//      now wants the client's next flight (SSL_ERROR_WANT_READ after the callback ran);
//   3. the host_name OpenSSL stored (SSL_get_servername) when it got that far.
//
// What the oracle really measures. In OpenSSL 3.0 the callback runs at the start of
// tls_early_post_process_client_hello, i.e. AFTER the record layer, the handshake header and
// the hello's framing were parsed (version, random, session id <= 32, length-prefixed cipher
// suites, compression methods and extensions block, no trailing bytes, each extension's framing,
// no duplicate KNOWN extension, pre_shared_key last), but BEFORE any semantic check: the cipher
// list (empty or odd length), the compression list (must contain null), version negotiation and
// the per-extension parsers (server_name list shape, NUL or > 255 byte names) all run after it.
// So "callback ran" means "OpenSSL accepted the hello's framing", and only outcome 2 means
// "OpenSSL accepted the hello". The reader decides framing and the checks of the spec in one go,
// so its accept/reject is compared with outcome 2; every case also pins outcome 1, so a change in
// either parser shows up as a failed expectation rather than a silently different comparison.
//
// Outcome 2 also depends on the server's policy (protocol versions, ciphers, groups); with the
// real fixtures and this context it succeeds for every client, which the fixture test checks.
//
// Where snibind deliberately differs, the case says so in `divergence`, with the reason. Those
// cases still assert both sides' exact outcomes.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hello_fixtures.h"
#include "tls/client_hello_reader.h"

namespace snibind {
namespace {

using test::Bytes;
using test::cat;
using test::fixture;
using test::fixtures;
using test::HelloParts;
using test::records;

// --- The oracle ---

struct SslCtxDeleter {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

std::string openssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out;
}

struct OracleResult {
    bool hello_cb_ran = false;  // OpenSSL accepted the hello's framing
    bool handshake_ok = false;  // ... and processed it, answering with its ServerHello flight
    bool cb_has_sni = false;    // the server_name extension was present
    std::optional<std::string> cb_sni;     // its first host_name entry, when well formed
    std::optional<std::string> host_name;  // SSL_get_servername after SSL_accept
    std::string error;                     // OpenSSL's error queue, for failure messages
};

// The first host_name of a server_name extension body, or nullopt if the framing is broken.
std::optional<std::string> first_host_name(const unsigned char* p, std::size_t n) {
    if (n < 2 || (std::size_t{p[0]} << 8 | p[1]) != n - 2) return std::nullopt;
    std::size_t pos = 2;
    while (pos + 3 <= n) {
        std::size_t len = std::size_t{p[pos + 1]} << 8 | p[pos + 2];
        if (pos + 3 + len > n) return std::nullopt;
        if (p[pos] == 0) return std::string(reinterpret_cast<const char*>(p + pos + 3), len);
        pos += 3 + len;
    }
    return std::nullopt;
}

int on_client_hello(SSL* s, int* /*alert*/, void* /*arg*/) {
    auto* r = static_cast<OracleResult*>(SSL_get_app_data(s));
    r->hello_cb_ran = true;
    const unsigned char* ext = nullptr;
    std::size_t len = 0;
    if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &ext, &len) == 1) {
        r->cb_has_sni = true;
        r->cb_sni = first_host_name(ext, len);
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

// A throwaway self-signed P-256 certificate, so that OpenSSL can complete its first flight.
SSL_CTX* make_server_ctx() {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == nullptr) return nullptr;
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("snibind-test"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    bool ok = key != nullptr && X509_sign(cert, key, EVP_sha256()) > 0 &&
              SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) {
        SSL_CTX_free(ctx);
        return nullptr;
    }
    // The most permissive policy we can set, so that outcome 2 measures the hello as far as
    // possible rather than the server's policy.
    SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_min_proto_version(ctx, 0);
    SSL_CTX_set_client_hello_cb(ctx, on_client_hello, nullptr);
    return ctx;
}

SSL_CTX* server_ctx() {
    static std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(make_server_ctx());
    return ctx.get();
}

OracleResult openssl_reads(const Bytes& bytes) {
    OracleResult r;
    ERR_clear_error();
    SSL* ssl = SSL_new(server_ctx());
    if (ssl == nullptr) {
        r.error = "SSL_new failed";
        return r;
    }
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in, -1);  // out of input = "would block", not EOF
    BIO_write(in, bytes.data(), static_cast<int>(bytes.size()));
    SSL_set_bio(ssl, in, out);
    SSL_set_app_data(ssl, &r);
    int rc = SSL_accept(ssl);
    int err = SSL_get_error(ssl, rc);
    r.handshake_ok =
        r.hello_cb_ran && rc <= 0 && err == SSL_ERROR_WANT_READ && BIO_ctrl_pending(out) > 0;
    if (r.handshake_ok) {
        if (const char* h = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) r.host_name = h;
    }
    r.error = openssl_errors();
    SSL_free(ssl);
    return r;
}

// --- The reader under test ---

struct ReaderResult {
    HelloResult result = HelloResult::need_more;
    std::string error;
    bool has_sni = false;
    std::string sni;  // as sent, at most ClientHello::kMaxName bytes
    std::size_t sni_length = 0;
    HostProblem problem = HostProblem::none;
};

ReaderResult snibind_reads(const Bytes& bytes) {
    ClientHelloReader reader;
    auto res = reader.read(bytes);
    if (res == HelloResult::need_more) res = reader.finish();
    ReaderResult r;
    r.result = res;
    r.error = reader.error();
    if (res == HelloResult::client_hello) {
        r.has_sni = reader.hello().has_sni();
        r.sni = reader.hello().sni();
        r.sni_length = reader.hello().sni_length();
        r.problem = reader.hello().sni_problem();
    }
    return r;
}

// --- Derived variants ---

HelloParts parts_of(const std::string& file) {
    return HelloParts::parse(test::handshake_message(fixture(file).bytes));
}
HelloParts base() {
    return parts_of("openssl-sni.bin");
}
Bytes hello_bytes(const HelloParts& p) {
    return records(p.message());
}
Bytes base_message() {
    return base().message();
}

void put16(Bytes& b, std::size_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}

Bytes server_name_ext(const std::vector<std::pair<std::uint8_t, std::string>>& entries) {
    Bytes list;
    for (const auto& [type, name] : entries) {
        list.push_back(type);
        put16(list, name.size());
        list.insert(list.end(), name.begin(), name.end());
    }
    Bytes ext;
    put16(ext, list.size());
    return cat(ext, list);
}

Bytes with_name(const std::string& name) {
    auto p = base();
    p.set_server_name(name);
    return hello_bytes(p);
}

// An SSLv2-compatible ClientHello (RFC 5246 appendix E.2) offering TLS 1.2.
Bytes sslv2_hello() {
    Bytes body = {1, 0x03, 0x03};  // msg_type client_hello, version TLS 1.2
    Bytes specs = {0x00, 0xc0, 0x2b, 0x00, 0xc0, 0x2f, 0x00, 0x00, 0xff};  // ECDHE-ECDSA/RSA, SCSV
    put16(body, specs.size());
    put16(body, 0);   // session id
    put16(body, 16);  // challenge
    body.insert(body.end(), specs.begin(), specs.end());
    for (int i = 0; i < 16; ++i) body.push_back(static_cast<std::uint8_t>(0x40 + i));
    Bytes out = {static_cast<std::uint8_t>(0x80 | body.size() >> 8),
                 static_cast<std::uint8_t>(body.size())};
    return cat(out, body);
}

// What OpenSSL does with a case.
enum class OpenSsl {
    rejects_framing,   // fails before the client_hello callback
    rejects_after_cb,  // the callback ran, then the handshake was aborted
    accepts,           // the callback ran and the ServerHello flight was written
};

struct Case {
    const char* name;
    std::function<Bytes()> bytes;
    OpenSsl openssl;
    bool reader_accepts;
    // Why snibind decides otherwise than OpenSSL's handshake, or nullptr when they agree.
    const char* divergence = nullptr;
};

std::ostream& operator<<(std::ostream& os, OpenSsl o) {
    switch (o) {
        case OpenSsl::rejects_framing:
            return os << "rejects_framing";
        case OpenSsl::rejects_after_cb:
            return os << "rejects_after_cb";
        case OpenSsl::accepts:
            return os << "accepts";
    }
    return os;
}

OpenSsl classify(const OracleResult& r) {
    if (!r.hello_cb_ran) return OpenSsl::rejects_framing;
    return r.handshake_ok ? OpenSsl::accepts : OpenSsl::rejects_after_cb;
}

const std::vector<Case>& cases() {
    static const std::vector<Case> all = {
        // Transport and record layer.
        {"split_into_2_records",
         [] {
             auto m = test::handshake_message(fixture("chromium.bin").bytes);
             return records(m, m.size() / 2 + 1);
         },
         OpenSsl::accepts, true},
        {"twenty_byte_records",
         [] { return records(test::handshake_message(fixture("chromium.bin").bytes), 20); },
         OpenSsl::accepts, true},
        {"record_boundary_inside_handshake_header",
         [] {
             auto m = base_message();
             return cat(records(Bytes(m.begin(), m.begin() + 2)),
                        records(Bytes(m.begin() + 2, m.end())));
         },
         OpenSsl::accepts, true},
        {"record_version_0x0300", [] { return records(base_message(), 16384, 0x0300); },
         OpenSsl::accepts, true},
        {"record_version_0x0303", [] { return records(base_message(), 16384, 0x0303); },
         OpenSsl::accepts, true},
        {"application_data_record_between_fragments",
         [] {
             auto r = records(base_message(), 100);
             r[5 + 100] = 23;  // the second record's type
             return r;
         },
         OpenSsl::rejects_framing, false},
        {"change_cipher_spec_record_between_fragments",
         [] {
             auto m = base_message();
             Bytes head(m.begin(), m.begin() + 100), tail(m.begin() + 100, m.end());
             return cat(cat(records(head), Bytes{20, 3, 3, 0, 1, 1}), records(tail));
         },
         OpenSsl::rejects_framing, false},
        {"handshake_type_2_server_hello",
         [] {
             auto m = base_message();
             m[0] = 2;
             return records(m);
         },
         OpenSsl::rejects_framing, false},
        {"handshake_length_0xffffff_in_small_record",
         [] {
             auto m = base_message();
             m[1] = m[2] = m[3] = 0xff;
             return records(m);
         },
         OpenSsl::rejects_framing, false},
        {"zero_length_handshake_record_first",
         [] {
             return cat(Bytes{22, 3, 1, 0, 0}, records(base_message()));
         },
         OpenSsl::accepts, false,
         "RFC 8446 5.1 forbids zero-length handshake fragments and the spec makes it an error; "
         "OpenSSL 3.0 skips up to 32 empty records. A router should not be more lenient than "
         "the TLS 1.3 rules, and the record is a cheap way to probe middleboxes."},
        {"sslv2_compatible_hello", sslv2_hello, OpenSsl::rejects_after_cb, true,
         "OpenSSL accepts the SSLv2 framing (its callback runs) but then finds no shared cipher "
         "with this ECDSA-only server: that is server policy, not the hello. snibind reads it "
         "as a hello without SNI (spec: 'no SNI, not an error') and routes it on IP records."},

        // ClientHello body.
        {"session_id_32",
         [] {
             auto p = base();
             p.session_id.assign(32, 7);
             return hello_bytes(p);
         },
         OpenSsl::accepts, true},
        {"session_id_33",
         [] {
             auto p = base();
             p.session_id.assign(33, 7);
             return hello_bytes(p);
         },
         OpenSsl::rejects_framing, false},
        {"odd_cipher_suites_length",
         [] {
             auto p = base();
             p.cipher_suites.push_back(0x13);
             return hello_bytes(p);
         },
         OpenSsl::rejects_after_cb, false},
        {"zero_cipher_suites",
         [] {
             auto p = base();
             p.cipher_suites.clear();
             return hello_bytes(p);
         },
         OpenSsl::rejects_after_cb, false},
        {"zero_compression_methods",
         [] {
             auto p = base();
             p.compression.clear();
             return hello_bytes(p);
         },
         OpenSsl::rejects_after_cb, false},
        {"no_extensions_block_tls12",
         [] {
             auto p = parts_of("openssl-tls12.bin");
             p.extensions.clear();
             p.has_extensions = false;
             return hello_bytes(p);
         },
         OpenSsl::rejects_after_cb, true,
         "valid TLS 1.2 framing (the callback runs); without supported_groups and "
         "signature_algorithms this ECDSA-only server finds no shared cipher, which is policy. "
         "snibind reads it as 'no SNI' (spec), the IP-binding path."},
        {"extension_running_past_the_block",
         [] {
             auto m = base_message();
             // The last extension's length is the 2 bytes before its data; grow it by one.
             auto p = base();
             std::size_t last_len = p.extensions.back().second.size();
             std::size_t at = m.size() - last_len - 2;
             m[at + 1] = static_cast<std::uint8_t>(m[at + 1] + 1);
             if (m[at + 1] == 0) ++m[at];
             return records(m);
         },
         OpenSsl::rejects_framing, false},
        {"trailing_bytes_after_extensions",
         [] {
             auto m = base_message();
             m.insert(m.end(), {0, 0, 0, 0});
             std::size_t body = m.size() - 4;
             m[1] = static_cast<std::uint8_t>(body >> 16);
             m[2] = static_cast<std::uint8_t>(body >> 8);
             m[3] = static_cast<std::uint8_t>(body);
             return records(m);
         },
         OpenSsl::rejects_framing, false},
        {"duplicate_server_name_extension",
         [] {
             auto p = base();
             p.extensions.emplace_back(0, *p.extension(0));
             return hello_bytes(p);
         },
         OpenSsl::rejects_framing, false},
        {"duplicate_unknown_extension",
         [] {
             auto p = base();
             p.extensions.insert(p.extensions.begin(), {0x1234, Bytes{1, 2}});
             p.extensions.insert(p.extensions.begin(), {0x1234, Bytes{3}});
             return hello_bytes(p);
         },
         OpenSsl::accepts, false,
         "RFC 8446 4.2: no extension type may appear twice; snibind enforces it for every type "
         "(spec: 'the same extension twice (error)'), OpenSSL only for the types it implements."},
        {"duplicate_grease_extension",
         [] {
             auto p = base();
             p.extensions.insert(p.extensions.begin(), {0x1a1a, Bytes{}});
             p.extensions.insert(p.extensions.begin(), {0x1a1a, Bytes{0}});
             return hello_bytes(p);
         },
         OpenSsl::accepts, true},
        {"pre_shared_key_not_last",
         [] {
             auto p = base();
             p.extensions.insert(p.extensions.begin(), {41, Bytes{0, 0, 0, 0}});
             return hello_bytes(p);
         },
         OpenSsl::rejects_framing, false},
        {"padding_extension_4k",
         [] {
             auto p = base();
             p.extensions.emplace(p.extensions.begin(), 21, Bytes(4096, 0));
             return hello_bytes(p);
         },
         OpenSsl::accepts, true},
        {"legacy_version_ssl3_only",
         [] {
             auto p = parts_of("openssl-tls12.bin");
             p.legacy_version = 0x0300;
             return hello_bytes(p);
         },
         OpenSsl::rejects_after_cb, true,
         "version negotiation is the TLS server's job; snibind only routes, and reports the "
         "offered version so that policy can act on it."},

        // server_name.
        {"no_server_name",
         [] {
             auto p = base();
             p.remove(0);
             return hello_bytes(p);
         },
         OpenSsl::accepts, true},
        {"empty_server_name_list",
         [] {
             auto p = base();
             *p.extension(0) = Bytes{0, 0};
             return hello_bytes(p);
         },
         OpenSsl::rejects_after_cb, false},
        {"two_host_names",
         [] {
             auto p = base();
             *p.extension(0) = server_name_ext({{0, "a.example.com"}, {0, "b.example.com"}});
             return hello_bytes(p);
         },
         OpenSsl::rejects_after_cb, false},
        {"other_name_type_then_host_name",
         [] {
             auto p = base();
             *p.extension(0) = server_name_ext({{1, "x"}, {0, "www.example.com"}});
             return hello_bytes(p);
         },
         OpenSsl::rejects_after_cb, false},
        {"mixed_case_name", [] { return with_name("WwW.Example.COM"); }, OpenSsl::accepts, true},
        {"trailing_dot_name", [] { return with_name("www.example.com."); }, OpenSsl::accepts, true},
        {"ip_literal_name", [] { return with_name("10.0.0.5"); }, OpenSsl::accepts, true},
        {"empty_name", [] { return with_name(""); }, OpenSsl::accepts, true},
        {"name_with_nul", [] { return with_name(std::string("www.exa\0mple.com", 16)); },
         OpenSsl::rejects_after_cb, true,
         "OpenSSL aborts the handshake on a NUL in the name; snibind reads the hello, reports "
         "the name as 'not a host name' (invalid_byte) and routes it as no SNI (L3, L6), as "
         "HTTP.sys does."},
        {"name_with_slash", [] { return with_name("www.example.com/x"); }, OpenSsl::accepts, true},
        {"name_with_space", [] { return with_name("www example.com"); }, OpenSsl::accepts, true},
        {"name_non_ascii",
         [] {
             return with_name(
                 "b\xc3\xbc"
                 "cher.example");
         },
         OpenSsl::accepts, true},
        {"name_255_bytes",
         [] {
             return with_name(std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                              std::string(63, 'c') + "." + std::string(59, 'd') + ".com");
         },
         OpenSsl::accepts, true},
        {"name_256_bytes", [] { return with_name(std::string(252, 'a') + ".com"); },
         OpenSsl::rejects_after_cb, true,
         "OpenSSL aborts on a name over 255 bytes (TLSEXT_MAXLEN_host_name); snibind reads the "
         "hello and reports 'not a host name' (too_long), routing it as no SNI."},
        {"name_300_bytes", [] { return with_name(std::string(296, 'a') + ".com"); },
         OpenSsl::rejects_after_cb, true,
         "as name_256_bytes; the reader keeps the first 256 bytes and the full length."},
    };
    return all;
}

// --- Tests ---

// Every real capture: both accept, and both see the same server_name bytes.
TEST(OpenSslDifferential, RealFixturesAgree) {
    ASSERT_NE(server_ctx(), nullptr) << openssl_errors();
    for (const auto& f : fixtures()) {
        SCOPED_TRACE(f.file + " from " + f.client);
        auto o = openssl_reads(f.bytes);
        auto r = snibind_reads(f.bytes);
        EXPECT_EQ(classify(o), OpenSsl::accepts) << o.error;
        EXPECT_EQ(r.result, HelloResult::client_hello) << r.error;
        EXPECT_EQ(o.cb_has_sni, r.has_sni);
        EXPECT_EQ(o.cb_sni.value_or(""), r.sni);
        EXPECT_EQ(o.host_name.value_or(""), r.sni);
        EXPECT_EQ(r.sni, f.sni);
    }
}

// The variants: each side's exact outcome, agreement unless a divergence is documented, and the
// same server_name bytes whenever both parsed the hello.
TEST(OpenSslDifferential, DerivedVariants) {
    ASSERT_NE(server_ctx(), nullptr) << openssl_errors();
    for (const auto& c : cases()) {
        SCOPED_TRACE(c.name);
        // The table itself: a case marked as a divergence must actually diverge, and vice versa.
        ASSERT_EQ(c.reader_accepts != (c.openssl == OpenSsl::accepts), c.divergence != nullptr);

        auto bytes = c.bytes();
        auto o = openssl_reads(bytes);
        auto r = snibind_reads(bytes);
        EXPECT_EQ(classify(o), c.openssl) << "OpenSSL: " << o.error;
        EXPECT_EQ(r.result == HelloResult::client_hello, c.reader_accepts)
            << "reader: " << to_string(r.result) << ": " << r.error;

        if (r.result == HelloResult::client_hello && o.hello_cb_ran) {
            EXPECT_EQ(r.has_sni, o.cb_has_sni);
            if (r.has_sni) {
                ASSERT_TRUE(o.cb_sni.has_value());
                EXPECT_EQ(r.sni_length, o.cb_sni->size());
                EXPECT_EQ(r.sni, o.cb_sni->substr(0, ClientHello::kMaxName));
            }
        }
        if (r.result == HelloResult::client_hello && o.handshake_ok) {
            EXPECT_EQ(r.sni, o.host_name.value_or(""));
        }
    }
}

// The divergent names: snibind reads the hello but never routes on the name.
TEST(OpenSslDifferential, DivergentNamesAreNotHostNames) {
    for (const char* name : {"name_with_nul", "name_256_bytes", "name_300_bytes"}) {
        SCOPED_TRACE(name);
        const Case* c = nullptr;
        for (const auto& k : cases())
            if (std::string(k.name) == name) c = &k;
        ASSERT_NE(c, nullptr);
        auto r = snibind_reads(c->bytes());
        ASSERT_EQ(r.result, HelloResult::client_hello);
        EXPECT_TRUE(r.has_sni);
        EXPECT_NE(r.problem, HostProblem::none);
    }
}

}  // namespace
}  // namespace snibind
