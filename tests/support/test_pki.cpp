#include "test_pki.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

namespace snibind::test {

namespace {

struct Free {
    void operator()(BIO* p) const { BIO_free(p); }
    void operator()(X509* p) const { X509_free(p); }
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
    void operator()(PKCS12* p) const { PKCS12_free(p); }
    void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
    void operator()(STACK_OF(X509) * p) const { sk_X509_free(p); }
};
template <typename T>
using Owned = std::unique_ptr<T, Free>;

[[noreturn]] void fail(const std::string& what) {
    char reason[256] = "no OpenSSL error";
    if (unsigned long code = ERR_get_error()) ERR_error_string_n(code, reason, sizeof reason);
    ERR_clear_error();
    throw std::runtime_error("TestPki: " + what + ": " + reason);
}

template <typename T>
Owned<T> check(T* p, const std::string& what) {
    if (!p) fail(what);
    return Owned<T>(p);
}

void check(int ok, const std::string& what) {
    if (ok != 1) fail(what);
}

// Through EVP_PKEY_CTX, which both TLS stacks (src/tlsstack/) offer.
Owned<EVP_PKEY> new_key(KeyType type) {
    const bool rsa = type == KeyType::rsa_2048;
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
        EVP_PKEY_CTX_new_id(rsa ? EVP_PKEY_RSA : EVP_PKEY_EC, nullptr), &EVP_PKEY_CTX_free);
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) fail("key generation");
    check(rsa ? EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), 2048)
              : EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx.get(), NID_X9_62_prime256v1),
          "key parameters");
    EVP_PKEY* key = nullptr;
    if (EVP_PKEY_keygen(ctx.get(), &key) != 1) fail("key generation");
    return Owned<EVP_PKEY>(key);
}

void add_name_entry(X509_NAME* name, const char* field, std::string_view value) {
    check(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(value.data()),
                                     static_cast<int>(value.size()), -1, 0),
          std::string("subject ") + field);
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    auto ext = check(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()), value);
    check(X509_add_ext(cert, ext.get(), -1), value);
}

// Validity, serial, names and public key; the caller adds extensions and signs.
Owned<X509> new_certificate(long serial, X509_NAME* issuer_name, std::string_view org,
                            std::string_view common_name, EVP_PKEY* key,
                            const IssueOptions& options) {
    auto cert = check(X509_new(), "X509_new");
    check(X509_set_version(cert.get(), X509_VERSION_3), "version");
    check(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial), "serial");
    X509_NAME* subject = X509_get_subject_name(cert.get());
    add_name_entry(subject, "O", org);
    if (!common_name.empty()) add_name_entry(subject, "CN", common_name);
    check(X509_set_issuer_name(cert.get(), issuer_name ? issuer_name : subject), "issuer");
    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), options.not_before.count()) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert.get()), options.not_after.count())) {
        fail("validity");
    }
    check(X509_set_pubkey(cert.get(), key), "public key");
    return cert;
}

std::string subject_alt_name(const std::vector<std::string>& dns_names,
                             const std::vector<std::string>& ip_addresses) {
    std::string san;
    auto append = [&san](std::string_view kind, const std::string& value) {
        if (!san.empty()) san += ',';
        san.append(kind).append(value);
    };
    for (const auto& name : dns_names) append("DNS:", name);
    for (const auto& ip : ip_addresses) append("IP:", ip);
    return san;
}

Owned<BIO> create_file(const std::filesystem::path& file) {
    return check(BIO_new_file(file.c_str(), "wb"), "cannot write " + file.string());
}

void write_pem_key(BIO* out, EVP_PKEY* key) {
    check(PEM_write_bio_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr), "PEM key");
}

void write_pfx(const std::filesystem::path& file, const std::string& password,
               std::string_view friendly_name, X509* leaf, X509* ca, EVP_PKEY* key,
               bool mismatched_key) {
    auto chain = check(sk_X509_new_null(), "sk_X509_new_null");
    // PKCS12_create refuses a key that does not match `cert`; a mismatched file therefore holds
    // the leaf among the "other" certificates, as a hand-assembled bad .pfx would.
    if (mismatched_key) check(sk_X509_push(chain.get(), leaf) > 0 ? 1 : 0, "chain");
    check(sk_X509_push(chain.get(), ca) > 0 ? 1 : 0, "chain");
    const std::string name(friendly_name);
    auto p12 = check(PKCS12_create(password.c_str(), name.c_str(), key,
                                   mismatched_key ? nullptr : leaf, chain.get(), 0, 0, 0, 0, 0),
                     "PKCS12_create");
    auto out = create_file(file);
    check(i2d_PKCS12_bio(out.get(), p12.get()), "write " + file.string());
}

Thumbprint der_sha1(X509* cert) {
    unsigned char* der = nullptr;
    int len = i2d_X509(cert, &der);
    if (len <= 0) fail("i2d_X509");
    Thumbprint t;
    unsigned int size = 0;
    int ok =
        EVP_Digest(der, static_cast<std::size_t>(len), t.bytes.data(), &size, EVP_sha1(), nullptr);
    OPENSSL_free(der);
    check(ok, "SHA-1");
    return t;
}

}  // namespace

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "snibind-test-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

TestPki::TestPki(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    auto key = new_key(KeyType::ec_p256);
    IssueOptions validity;
    validity.not_after = std::chrono::hours(24 * 3650);
    auto cert = new_certificate(next_serial_++, nullptr, "snibind tests", "snibind test CA",
                                key.get(), validity);
    add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) fail("sign CA");
    auto out = create_file(ca_pem());
    check(PEM_write_bio_X509(out.get(), cert.get()), "write ca.pem");
    ca_key_ = key.release();
    ca_cert_ = cert.release();
}

TestPki::~TestPki() {
    X509_free(ca_cert_);
    EVP_PKEY_free(ca_key_);
}

TestPki::Issued TestPki::issue(std::string_view file_stem, std::string_view common_name,
                               std::vector<std::string> dns_names, KeyType key_type,
                               IssueOptions options) {
    auto key = new_key(key_type);
    auto cert = new_certificate(next_serial_++, X509_get_subject_name(ca_cert_), "snibind tests",
                                common_name, key.get(), options);
    add_extension(cert.get(), ca_cert_, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), ca_cert_, NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), ca_cert_, NID_authority_key_identifier, "keyid");
    if (auto san = subject_alt_name(dns_names, options.ip_addresses); !san.empty()) {
        add_extension(cert.get(), ca_cert_, NID_subject_alt_name, san);
    }
    if (X509_sign(cert.get(), ca_key_, EVP_sha256()) <= 0) fail("sign leaf");

    Owned<EVP_PKEY> served_key = options.mismatched_key ? new_key(key_type) : std::move(key);
    Issued issued;
    const std::string stem(file_stem);
    issued.pem = dir_ / (stem + ".pem");
    issued.pfx = dir_ / (stem + ".pfx");
    issued.thumbprint = der_sha1(cert.get());
    {
        auto pem = create_file(issued.pem);
        check(PEM_write_bio_X509(pem.get(), cert.get()), "write leaf");
        check(PEM_write_bio_X509(pem.get(), ca_cert_), "write chain");
        if (!options.separate_key_file) write_pem_key(pem.get(), served_key.get());
    }
    if (options.separate_key_file) {
        issued.key = dir_ / (stem + ".key");
        write_pem_key(create_file(issued.key).get(), served_key.get());
    }
    write_pfx(issued.pfx, options.pfx_password, common_name, cert.get(), ca_cert_, served_key.get(),
              options.mismatched_key);
    return issued;
}

}  // namespace snibind::test
