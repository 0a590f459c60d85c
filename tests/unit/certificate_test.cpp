// Certificates as HTTP.sys holds them: loading PEM and PKCS#12 files, thumbprints, names (I7),
// key usability (L9), the by-hash store and the CCS folder, and a real handshake per SSL_CTX.
#include "certs/certificate.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bindings/binding_table.h"
#include "bindings/selection.h"
#include "certs/certificate_store.h"
#include "serve_process.h"
#include "test_pki.h"
#include "tlsstack/tls_stack.h"

namespace snibind::certs {
namespace {

using namespace std::chrono_literals;
using test::IssueOptions;
using test::KeyType;
using test::TestPki;
using test::write_file;

class CertificateTest : public ::testing::Test {
  protected:
    test::TempDir tmp;
    TestPki pki{tmp.path() / "pki"};

    std::shared_ptr<const Certificate> load(const std::filesystem::path& file,
                                            std::string_view password = "") {
        std::string error;
        auto cert = load_certificate(file, password, error);
        EXPECT_TRUE(cert) << error;
        return cert;
    }

    std::filesystem::path folder(const std::string& name) {
        auto path = tmp.path() / name;
        std::filesystem::create_directories(path);
        return path;
    }
};

IssueOptions separate_key_file() {
    IssueOptions options;
    options.separate_key_file = true;
    return options;
}

IssueOptions mismatched_key() {
    IssueOptions options;
    options.mismatched_key = true;
    return options;
}

IssueOptions with_ip(std::string ip) {
    IssueOptions options;
    options.ip_addresses.push_back(std::move(ip));
    return options;
}

// --- Loading one file ---

TEST_F(CertificateTest, PemWithKeyInTheSameFile) {
    auto issued = pki.issue("site", "site.example", {"site.example"});
    auto cert = load(issued.pem);
    ASSERT_TRUE(cert);
    EXPECT_EQ(cert->thumbprint(), issued.thumbprint);
    EXPECT_TRUE(cert->info().key_usable()) << cert->info().key_problem;
    EXPECT_NE(cert->ctx(), nullptr);
    EXPECT_EQ(cert->info().file, issued.pem);
}

TEST_F(CertificateTest, PemWithKeyInStemDotKey) {
    IssueOptions options;
    options.separate_key_file = true;
    auto issued = pki.issue("site", "site.example", {"site.example"}, KeyType::ec_p256, options);
    ASSERT_TRUE(std::filesystem::exists(issued.key));
    auto cert = load(issued.pem);
    ASSERT_TRUE(cert);
    EXPECT_EQ(cert->thumbprint(), issued.thumbprint);
    EXPECT_TRUE(cert->info().key_usable()) << cert->info().key_problem;
    EXPECT_NE(cert->ctx(), nullptr);
}

TEST_F(CertificateTest, L9_PemWithoutAnyKeyLoadsWithKeyProblem) {
    IssueOptions options;
    options.separate_key_file = true;
    auto issued = pki.issue("site", "site.example", {"site.example"}, KeyType::ec_p256, options);
    std::filesystem::remove(issued.key);
    auto cert = load(issued.pem);
    ASSERT_TRUE(cert);
    EXPECT_EQ(cert->thumbprint(), issued.thumbprint);
    EXPECT_FALSE(cert->info().key_usable());
    EXPECT_NE(cert->info().key_problem.find("no private key"), std::string::npos)
        << cert->info().key_problem;
    EXPECT_EQ(cert->ctx(), nullptr);
}

// An encrypted PEM key needs the password; without it the key is unusable, and nothing prompts.
TEST_F(CertificateTest, L9_EncryptedPemKey) {
    auto issued =
        pki.issue("site", "site.example", {"site.example"}, KeyType::ec_p256, separate_key_file());
    {
        std::unique_ptr<BIO, int (*)(BIO*)> in(BIO_new_file(issued.key.c_str(), "rb"), BIO_free);
        std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key(
            PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
        ASSERT_TRUE(key);
        std::unique_ptr<BIO, int (*)(BIO*)> out(BIO_new_file(issued.key.c_str(), "wb"), BIO_free);
        ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(out.get(), key.get(), EVP_aes_256_cbc(), nullptr, 0,
                                                nullptr, const_cast<char*>("pem-pass")),
                  1);
    }
    struct Case {
        std::string password;
        std::string key_problem;
    };
    for (const auto& c :
         std::vector<Case>{{"pem-pass", ""},
                           {"", "cannot read the private key (encrypted, and no password)"},
                           {"wrong", "cannot read the private key (wrong password?)"}}) {
        auto cert = load(issued.pem, c.password);
        ASSERT_TRUE(cert);
        EXPECT_EQ(cert->info().key_problem, c.key_problem) << c.password;
        EXPECT_EQ(cert->ctx() != nullptr, c.key_problem.empty()) << c.password;
    }
}

TEST_F(CertificateTest, PfxRightAndWrongPassword) {
    IssueOptions options;
    options.pfx_password = "s3cret";
    auto issued = pki.issue("site", "site.example", {"site.example"}, KeyType::ec_p256, options);

    auto cert = load(issued.pfx, "s3cret");
    ASSERT_TRUE(cert);
    EXPECT_EQ(cert->thumbprint(), issued.thumbprint);
    EXPECT_TRUE(cert->info().key_usable()) << cert->info().key_problem;
    EXPECT_NE(cert->ctx(), nullptr);

    // Without the password the certificate itself cannot be read: no thumbprint, so an error.
    for (std::string_view wrong : {"wrong", ""}) {
        std::string error;
        EXPECT_FALSE(load_certificate(issued.pfx, wrong, error)) << wrong;
        EXPECT_EQ(error, issued.pfx.string() + ": wrong PKCS#12 password") << wrong;
    }
}

struct KeyTypeCase {
    KeyType key;
    std::string expected;
};

class KeyTypes : public CertificateTest, public ::testing::WithParamInterface<KeyTypeCase> {};

TEST_P(KeyTypes, PemAndPfxLoadWithUsableKey) {
    auto issued = pki.issue("site", "site.example", {"site.example"}, GetParam().key);
    for (const auto& file : {issued.pem, issued.pfx}) {
        auto cert = load(file, "test");
        ASSERT_TRUE(cert) << file;
        EXPECT_EQ(cert->info().key_type, GetParam().expected) << file;
        EXPECT_EQ(cert->thumbprint(), issued.thumbprint) << file;
        EXPECT_TRUE(cert->info().key_usable()) << file << ": " << cert->info().key_problem;
    }
}

INSTANTIATE_TEST_SUITE_P(RsaAndEc, KeyTypes,
                         ::testing::Values(KeyTypeCase{KeyType::ec_p256, "EC-P256"},
                                           KeyTypeCase{KeyType::rsa_2048, "RSA-2048"}));

TEST_F(CertificateTest, NamesSubjectAndSans) {
    auto issued = pki.issue("site", "Site.Example", {"Site.Example", "www.site.example"},
                            KeyType::ec_p256, with_ip("127.0.0.2"));
    auto cert = load(issued.pem);
    ASSERT_TRUE(cert);
    // RFC 2253 prints the most specific RDN first.
    EXPECT_EQ(cert->info().subject, "CN=Site.Example,O=snibind tests");
    EXPECT_EQ(cert->info().common_name, "Site.Example");
    // As written, and without the IP entry.
    EXPECT_EQ(cert->info().dns_names,
              (std::vector<std::string>{"Site.Example", "www.site.example"}));
}

TEST_F(CertificateTest, NoCommonNameNoSans) {
    auto no_cn = load(pki.issue("no-cn", "", {"only.san.example"}).pem);
    ASSERT_TRUE(no_cn);
    EXPECT_EQ(no_cn->info().common_name, "");
    EXPECT_EQ(no_cn->info().subject, "O=snibind tests");
    auto no_san = load(pki.issue("no-san", "only.cn.example", {}).pem);
    ASSERT_TRUE(no_san);
    EXPECT_TRUE(no_san->info().dns_names.empty());
}

struct CoversCase {
    std::string common_name;
    std::vector<std::string> dns_names;
    std::string host;
    bool covered;
};

class Covers : public CertificateTest, public ::testing::WithParamInterface<CoversCase> {};

TEST_P(Covers, I7_NameCheck) {
    const auto& c = GetParam();
    auto cert = load(pki.issue("site", c.common_name, c.dns_names).pem);
    ASSERT_TRUE(cert);
    EXPECT_EQ(cert->covers(c.host), c.covered) << c.host;
}

INSTANTIATE_TEST_SUITE_P(
    I7, Covers,
    ::testing::Values(CoversCase{"www.contoso.com", {"www.contoso.com"}, "www.contoso.com", true},
                      CoversCase{"www.contoso.com", {"www.contoso.com"}, "contoso.com", false},
                      // A wildcard is one left-most label: not the bare parent, not two labels.
                      CoversCase{"*.contoso.com", {"*.contoso.com"}, "hr.contoso.com", true},
                      CoversCase{"*.contoso.com", {"*.contoso.com"}, "contoso.com", false},
                      CoversCase{"*.contoso.com", {"*.contoso.com"}, "a.b.contoso.com", false},
                      CoversCase{"*.contoso.com", {"*.contoso.com"}, ".contoso.com", false},
                      CoversCase{"*.contoso.com", {"*.contoso.com"}, "xcontoso.com", false},
                      // SAN entries beat the CN: CN=a, SAN=b covers b only.
                      CoversCase{"a.example", {"b.example"}, "b.example", true},
                      CoversCase{"a.example", {"b.example"}, "a.example", false},
                      // No SAN: the CN counts, wildcard rules included.
                      CoversCase{"c.example", {}, "c.example", true},
                      CoversCase{"*.wild.example", {}, "x.wild.example", true},
                      CoversCase{"*.wild.example", {}, "wild.example", false},
                      // Names compare case-insensitively; hosts arrive lower case (L6).
                      CoversCase{"", {"WWW.Example.COM"}, "www.example.com", true},
                      CoversCase{
                          "", {"first.example", "*.second.example"}, "x.second.example", true}));

struct ValidityCase {
    std::string name;
    std::chrono::seconds not_before, not_after;
    bool valid_now;
};

class Validity : public CertificateTest, public ::testing::WithParamInterface<ValidityCase> {};

TEST_P(Validity, ValidAt) {
    const auto& c = GetParam();
    IssueOptions options;
    options.not_before = c.not_before;
    options.not_after = c.not_after;
    auto now = std::chrono::system_clock::now();
    auto cert = load(pki.issue("site", "site.example", {}, KeyType::ec_p256, options).pem);
    ASSERT_TRUE(cert);
    EXPECT_EQ(cert->valid_at(now), c.valid_now);
    // The dates are read as UTC: they land where they were set, whatever the local time zone.
    EXPECT_LT(std::chrono::abs(cert->info().not_before - (now + c.not_before)), 2min);
    EXPECT_LT(std::chrono::abs(cert->info().not_after - (now + c.not_after)), 2min);
    EXPECT_TRUE(cert->valid_at(now + c.not_before + 1s));
    EXPECT_FALSE(cert->valid_at(now + c.not_after + 1h));
}

INSTANTIATE_TEST_SUITE_P(Dates, Validity,
                         ::testing::Values(ValidityCase{"current", -1h, 24h, true},
                                           ValidityCase{"expired", -48h, -24h, false},
                                           ValidityCase{"not_yet_valid", 24h, 48h, false}),
                         [](const auto& info) { return info.param.name; });

struct MismatchCase {
    std::string name;
    bool separate_key_file;
    bool pfx;
};

class MismatchedKey : public CertificateTest, public ::testing::WithParamInterface<MismatchCase> {};

TEST_P(MismatchedKey, L9_KeyProblemAndNoCtx) {
    const auto& c = GetParam();
    IssueOptions options;
    options.mismatched_key = true;
    options.separate_key_file = c.separate_key_file;
    auto issued = pki.issue("site", "site.example", {"site.example"}, KeyType::ec_p256, options);
    auto cert = load(c.pfx ? issued.pfx : issued.pem, "test");
    ASSERT_TRUE(cert);
    // The certificate is still known by its thumbprint (the leaf, not the CA next to it).
    EXPECT_EQ(cert->thumbprint(), issued.thumbprint);
    EXPECT_EQ(cert->info().key_problem, "private key does not match the certificate");
    EXPECT_EQ(cert->ctx(), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Files, MismatchedKey,
                         ::testing::Values(MismatchCase{"pem", false, false},
                                           MismatchCase{"separate_key", true, false},
                                           MismatchCase{"pfx", false, true}),
                         [](const auto& info) { return info.param.name; });

TEST_F(CertificateTest, FilesWithoutACertificateAreErrors) {
    write_file(tmp.path() / "garbage.pem", "not a certificate\n");
    write_file(tmp.path() / "garbage.pfx", "not a pfx");
    auto key_only = pki.issue("k", "k.example", {}, KeyType::ec_p256, separate_key_file());
    struct Case {
        std::filesystem::path file;
        std::string reason;
    };
    for (const auto& c : std::vector<Case>{
             {tmp.path() / "garbage.pem", "not a PEM or PKCS#12 file, or it holds no certificate"},
             {key_only.key, "not a PEM or PKCS#12 file, or it holds no certificate"},
             {tmp.path() / "garbage.pfx", "not a PKCS#12 file"},
             {tmp.path() / "missing.pem", "no such file"}}) {
        std::string error;
        EXPECT_FALSE(load_certificate(c.file, "", error)) << c.file;
        EXPECT_EQ(error, c.file.string() + ": " + c.reason);
    }
}

// The thumbprint is what Windows and `openssl x509 -fingerprint -sha1` show.
TEST_F(CertificateTest, ThumbprintMatchesOpensslCli) {
    auto issued = pki.issue("site", "site.example", {"site.example"});
    auto cert = load(issued.pem);
    ASSERT_TRUE(cert);
    std::string command =
        "openssl x509 -noout -fingerprint -sha1 -in '" + issued.pem.string() + "'";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    ASSERT_TRUE(pipe);
    std::string output;
    char buffer[256];
    while (std::fgets(buffer, sizeof buffer, pipe.get())) output += buffer;
    if (pclose(pipe.release()) != 0) GTEST_SKIP() << "no usable openssl CLI: " << output;
    // "SHA1 Fingerprint=AB:CD:...", upper case with colons.
    auto hex = output.substr(output.find('=') + 1);
    std::erase_if(hex, [](char ch) { return ch == ':' || ch == '\n'; });
    std::ranges::transform(hex, hex.begin(), [](unsigned char ch) { return std::tolower(ch); });
    EXPECT_EQ(hex, cert->thumbprint().hex());
    EXPECT_EQ(hex, issued.thumbprint.hex());
}

// --- The store ---

Record by_hash(const Thumbprint& t) {
    Record r;
    r.key = RecordKey::ip(IpAddress{}, 443);
    r.certhash = t;
    return r;
}

TEST_F(CertificateTest, StoreLoadsAFolderSkipsKeysAndReportsDuplicates) {
    auto dir = folder("certs");
    TestPki local(dir);
    auto a = local.issue("a", "a.example", {"a.example"}, KeyType::ec_p256, separate_key_file());
    auto b = local.issue("b", "b.example", {"b.example"}, KeyType::rsa_2048);
    std::filesystem::remove(b.pem);  // b only as .pfx
    std::filesystem::copy_file(a.pem, dir / "z-copy-of-a.pem");
    write_file(dir / "notes.txt", "ignored");

    CertificateStore store;
    std::string error;
    ASSERT_TRUE(store.add_paths({dir}, "test", error)) << error;
    // a.pem, b.pfx and ca.pem; a.key is a key, not a certificate.
    EXPECT_EQ(store.size(), 3u);
    ASSERT_TRUE(store.find(a.thumbprint));
    EXPECT_EQ(store.find(a.thumbprint)->info().file, a.pem);
    ASSERT_TRUE(store.find(b.thumbprint));
    EXPECT_EQ(store.find(b.thumbprint)->info().file, b.pfx);
    EXPECT_EQ(store.all().size(), 3u);

    // Files load in name order, so a.pem wins over its a.pfx and z-copy-of-a.pem twins; ca.pem
    // has no key. All three are problems worth reporting, not errors.
    ASSERT_EQ(store.problems().size(), 3u);
    EXPECT_EQ(store.problems()[0].file, a.pfx);
    EXPECT_EQ(store.problems()[1].file, dir / "ca.pem");
    EXPECT_NE(store.problems()[1].reason.find("no private key"), std::string::npos);
    EXPECT_EQ(store.problems()[2].file, dir / "z-copy-of-a.pem");
    EXPECT_NE(store.problems()[2].reason.find(a.pem.string()), std::string::npos)
        << store.problems()[2].reason;
}

TEST_F(CertificateTest, StoreErrorsNameTheFile) {
    auto issued = pki.issue("site", "site.example", {"site.example"});
    struct Case {
        std::filesystem::path path;
        std::string password;
        std::string error;
    };
    auto broken = folder("broken");
    write_file(broken / "bad.crt", "junk");
    for (const auto& c : std::vector<Case>{
             {issued.pfx, "nope", issued.pfx.string() + ": wrong PKCS#12 password"},
             {tmp.path() / "absent", "", (tmp.path() / "absent").string() + ": no such file"},
             {broken, "",
              (broken / "bad.crt").string() +
                  ": not a PEM or PKCS#12 file, or it holds no certificate"}}) {
        CertificateStore store;
        std::string error;
        EXPECT_FALSE(store.add_paths({c.path}, c.password, error)) << c.path;
        EXPECT_EQ(error, c.error);
    }
}

TEST_F(CertificateTest, L9_StoreKeyUsableByHash) {
    auto good = pki.issue("good", "good.example", {"good.example"});
    auto bad = pki.issue("bad", "bad.example", {"bad.example"}, KeyType::ec_p256, mismatched_key());
    CertificateStore store;
    std::string error;
    ASSERT_TRUE(store.add_paths({good.pem, bad.pem}, "", error)) << error;
    EXPECT_TRUE(store.key_usable(by_hash(good.thumbprint), ""));
    EXPECT_FALSE(store.key_usable(by_hash(bad.thumbprint), ""));
    EXPECT_FALSE(store.key_usable(by_hash(*Thumbprint::parse(std::string(40, 'e'))), ""));
    ASSERT_EQ(store.problems().size(), 1u);
    EXPECT_EQ(store.problems()[0].file, bad.pem);
    EXPECT_EQ(store.problems()[0].reason, "private key does not match the certificate");
}

struct CcsLab {
    CertificateStore store;
    test::TestPki::Issued exact, wildcard, wrong_password;
};

std::unique_ptr<CcsLab> ccs_lab(const std::filesystem::path& dir) {
    auto lab = std::make_unique<CcsLab>();
    TestPki pki(dir);
    IssueOptions other_password;
    other_password.pfx_password = "other";
    lab->exact = pki.issue("SiteV3.MySite.com", "sitev3.mysite.com", {"sitev3.mysite.com"});
    lab->wildcard = pki.issue("_.wild.example", "*.wild.example", {"*.wild.example"});
    lab->wrong_password =
        pki.issue("locked.example", "locked.example", {}, KeyType::ec_p256, other_password);
    std::string error;
    EXPECT_TRUE(lab->store.set_ccs({dir, "test"}, error)) << error;
    return lab;
}

TEST_F(CertificateTest, CcsFolderCaseInsensitiveLookup) {
    auto lab = ccs_lab(folder("ccs"));
    const auto& store = lab->store;
    EXPECT_TRUE(store.has_ccs_file("sitev3.mysite.com.pfx"));
    EXPECT_TRUE(store.has_ccs_file("SITEV3.mysite.COM.PFX"));
    EXPECT_TRUE(store.has_ccs_file("_.wild.example.pfx"));
    ASSERT_TRUE(store.ccs("sitev3.mysite.com.pfx"));
    EXPECT_EQ(store.ccs("sitev3.mysite.com.pfx")->thumbprint(), lab->exact.thumbprint);
    // Only .pfx files count; PEM files next to them are not CCS certificates.
    EXPECT_FALSE(store.has_ccs_file("sitev3.mysite.com.pem"));
    EXPECT_FALSE(store.has_ccs_file("other.mysite.com.pfx"));
    // CCS certificates are found by file name, not by hash.
    EXPECT_FALSE(store.find(lab->exact.thumbprint));
}

TEST_F(CertificateTest, L9_CcsKeyUsable) {
    auto lab = ccs_lab(folder("ccs"));
    const auto& store = lab->store;
    Record ccs_record;
    ccs_record.key = RecordKey::ccs(443);
    EXPECT_TRUE(store.key_usable(ccs_record, "sitev3.mysite.com.pfx"));
    EXPECT_TRUE(store.key_usable(ccs_record, "_.wild.example.pfx"));
    EXPECT_FALSE(store.key_usable(ccs_record, "missing.example.pfx"));
    // A wrong password: the file is there (L1 step 3 takes it) but its key is unusable (L9).
    EXPECT_TRUE(store.has_ccs_file("locked.example.pfx"));
    EXPECT_FALSE(store.key_usable(ccs_record, "locked.example.pfx"));
    auto locked = store.ccs("locked.example.pfx");
    ASSERT_TRUE(locked);
    EXPECT_EQ(locked->ctx(), nullptr);
    EXPECT_EQ(locked->info().key_problem, "wrong PKCS#12 password");
    ASSERT_EQ(store.problems().size(), 1u);
    EXPECT_EQ(store.problems()[0].file, lab->wrong_password.pfx);
}

TEST_F(CertificateTest, L9_CcsWrongPasswordFailsSelection) {
    auto lab = ccs_lab(folder("ccs"));
    std::string error;
    Record ccs_record;
    ccs_record.key = RecordKey::ccs(443);
    BindingTable table({ccs_record});
    SelectionSettings settings;
    auto connect = [&](std::string_view host) {
        Connection conn{*IpAddress::parse("127.0.0.1"), 443, host, HostProblem::none, true};
        return select_certificate(table.read(), conn, settings, &lab->store);
    };
    EXPECT_EQ(connect("sitev3.mysite.com").outcome, Outcome::selected);
    EXPECT_EQ(connect("hr.wild.example").ccs_file(), "_.wild.example.pfx");
    EXPECT_EQ(connect("locked.example").outcome, Outcome::failed);
    EXPECT_EQ(connect("nobody.example").outcome, Outcome::no_match);
}

TEST_F(CertificateTest, CcsFolderMustExist) {
    CertificateStore store;
    std::string error;
    EXPECT_FALSE(store.set_ccs({tmp.path() / "no-such-folder", "x"}, error));
    EXPECT_NE(error.find("no-such-folder"), std::string::npos) << error;
    EXPECT_TRUE(store.set_ccs({}, error));  // no CCS configured
    EXPECT_FALSE(store.has_ccs_file("a.pfx"));
}

// --- A real handshake over a BIO pair, served by Certificate::ctx() ---

struct SslCtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// Drives both ends until both finish; false if either fails or the pair stalls.
bool handshake(SSL* client, SSL* server) {
    bool client_done = false, server_done = false;
    for (int round = 0; round < 20 && !(client_done && server_done); ++round) {
        for (auto [ssl, done] :
             {std::pair{client, &client_done}, std::pair{server, &server_done}}) {
            if (*done) continue;
            int rc = SSL_do_handshake(ssl);
            if (rc == 1) {
                *done = true;
            } else if (int err = SSL_get_error(ssl, rc);
                       err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
                return false;
            }
        }
    }
    return client_done && server_done;
}

struct HandshakeCase {
    std::string name;
    KeyType key;
    int version;
};

class Handshake : public CertificateTest, public ::testing::WithParamInterface<HandshakeCase> {};

TEST_P(Handshake, CtxServesItsCertificate) {
    const auto& c = GetParam();
    auto issued = pki.issue("site", "site.example", {"site.example"}, c.key);
    auto cert = load(issued.pem);
    ASSERT_TRUE(cert);
    ASSERT_NE(cert->ctx(), nullptr);

    SslCtxPtr client_ctx(SSL_CTX_new(TLS_client_method()));
    ASSERT_TRUE(client_ctx);
    tlsstack::allow_legacy_algorithms(client_ctx.get());  // legacy versions, as old clients offer
    SSL_CTX_set_min_proto_version(client_ctx.get(), c.version);
    SSL_CTX_set_max_proto_version(client_ctx.get(), c.version);
    ASSERT_EQ(SSL_CTX_load_verify_locations(client_ctx.get(), pki.ca_pem().c_str(), nullptr), 1);
    SSL_CTX_set_verify(client_ctx.get(), SSL_VERIFY_PEER, nullptr);

    SslPtr client(SSL_new(client_ctx.get())), server(SSL_new(cert->ctx()));
    ASSERT_TRUE(client && server);
    BIO *client_bio = nullptr, *server_bio = nullptr;
    ASSERT_EQ(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0), 1);
    SSL_set_bio(client.get(), client_bio, client_bio);
    SSL_set_bio(server.get(), server_bio, server_bio);
    SSL_set_connect_state(client.get());
    SSL_set_accept_state(server.get());
    SSL_set_tlsext_host_name(client.get(), "site.example");
    SSL_set1_host(client.get(), "site.example");

    ASSERT_TRUE(handshake(client.get(), server.get())) << ERR_reason_error_string(ERR_get_error());
    EXPECT_EQ(SSL_version(client.get()), c.version);
    EXPECT_EQ(SSL_get_verify_result(client.get()), X509_V_OK);
    EXPECT_STREQ(SSL_get_servername(server.get(), TLSEXT_NAMETYPE_host_name), "site.example");
    std::unique_ptr<X509, decltype(&X509_free)> peer(SSL_get_peer_certificate(client.get()),
                                                     &X509_free);
    ASSERT_TRUE(peer);
    Thumbprint served;
    unsigned int len = 0;
    X509_digest(peer.get(), EVP_sha1(), served.bytes.data(), &len);
    EXPECT_EQ(served, issued.thumbprint);
    // The chain from the file goes out with the leaf.
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(client.get());
    ASSERT_TRUE(chain);
    EXPECT_EQ(sk_X509_num(chain), 2);
}

INSTANTIATE_TEST_SUITE_P(
    Versions, Handshake,
    ::testing::Values(HandshakeCase{"ec_tls1_0", KeyType::ec_p256, TLS1_VERSION},
                      HandshakeCase{"ec_tls1_1", KeyType::ec_p256, TLS1_1_VERSION},
                      HandshakeCase{"ec_tls1_2", KeyType::ec_p256, TLS1_2_VERSION},
                      HandshakeCase{"ec_tls1_3", KeyType::ec_p256, TLS1_3_VERSION},
                      HandshakeCase{"rsa_tls1_0", KeyType::rsa_2048, TLS1_VERSION},
                      HandshakeCase{"rsa_tls1_3", KeyType::rsa_2048, TLS1_3_VERSION}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace snibind::certs
