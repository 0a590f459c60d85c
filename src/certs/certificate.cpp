#include "certs/certificate.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <system_error>

#include "text/ascii.h"
#include "tlsstack/tls_stack.h"

namespace snibind::certs {

namespace {

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct Pkcs12Free {
    void operator()(PKCS12* p) const { PKCS12_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Pkcs12Ptr = std::unique_ptr<PKCS12, Pkcs12Free>;
using tlsstack::SslCtxPtr;

// What a file yielded before it becomes a Certificate: the leaf, the rest of the chain, the key
// (null when there is none or it could not be read) and why the key cannot be used.
struct Material {
    X509Ptr leaf;
    std::vector<X509Ptr> chain;
    PkeyPtr key;
    std::string key_problem;
};

// The reason OpenSSL left on its error queue, for messages; clears the queue so that a later
// failure does not report a stale reason.
std::string openssl_reason() {
    unsigned long code = ERR_peek_last_error();
    const char* reason = code ? ERR_reason_error_string(code) : nullptr;
    ERR_clear_error();
    return reason ? reason : "unknown OpenSSL error";
}

// Never prompts: OpenSSL's default callback would ask the terminal for a PEM pass phrase.
int password_callback(char* buf, int size, int /*rwflag*/, void* user) {
    auto* password = static_cast<const std::string_view*>(user);
    if (password->empty() || password->size() > static_cast<std::size_t>(size)) return -1;
    std::memcpy(buf, password->data(), password->size());
    return static_cast<int>(password->size());
}

BioPtr open_file(const std::filesystem::path& file, std::string& reason) {
    BioPtr bio(BIO_new_file(file.c_str(), "rb"));
    if (!bio) {
        ERR_clear_error();
        std::error_code ec;
        reason = std::filesystem::exists(file, ec) ? "cannot be read" : "no such file";
    }
    return bio;
}

// Every certificate in a PEM file, in file order (PEM_read_bio_X509 skips other blocks such as
// keys); falls back to one DER certificate, as ".crt" files often are.
std::vector<X509Ptr> read_certificates(BIO* bio) {
    std::vector<X509Ptr> certs;
    while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) certs.emplace_back(x);
    ERR_clear_error();
    if (certs.empty() && BIO_reset(bio) == 0) {
        if (X509* x = d2i_X509_bio(bio, nullptr)) certs.emplace_back(x);
        ERR_clear_error();
    }
    return certs;
}

// Whether a PEM file holds a private key block of any kind ("PRIVATE KEY", "RSA PRIVATE KEY",
// "ENCRYPTED PRIVATE KEY", ...), so that an encrypted or broken key is not reported as missing.
bool has_pem_key_block(BIO* bio) {
    bool found = false;
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    while (!found && PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
        found = std::string_view(name).ends_with("PRIVATE KEY");
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
    }
    ERR_clear_error();
    return found;
}

// The private key of a PEM file, or why it cannot be read; `found` says whether the file holds
// a key at all.
PkeyPtr read_pem_key(const std::filesystem::path& file, std::string_view password, bool& found,
                     std::string& problem) {
    std::string reason;
    BioPtr bio = open_file(file, reason);
    found = bio && has_pem_key_block(bio.get()) && BIO_reset(bio.get()) == 0;
    if (!found) return nullptr;
    PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, password_callback, &password));
    if (!key) {
        ERR_clear_error();
        problem = password.empty() ? "cannot read the private key (encrypted, and no password)"
                                   : "cannot read the private key (wrong password?)";
    }
    return key;
}

std::string load_pem(const std::filesystem::path& file, std::string_view password, Material& m) {
    std::string reason;
    BioPtr bio = open_file(file, reason);
    if (!bio) return reason;
    auto certs = read_certificates(bio.get());
    if (certs.empty()) return "not a PEM or PKCS#12 file, or it holds no certificate";
    m.leaf = std::move(certs.front());
    std::move(certs.begin() + 1, certs.end(), std::back_inserter(m.chain));

    bool found = false;
    m.key = read_pem_key(file, password, found, m.key_problem);
    if (found) return {};
    auto key_file = std::filesystem::path(file).replace_extension(".key");
    m.key = read_pem_key(key_file, password, found, m.key_problem);
    if (!found) {
        m.key_problem =
            "no private key in the file or in " + key_file.filename().string() + " next to it";
    }
    return {};
}

// PKCS12_parse keeps the leaf apart only when the key matches it; otherwise every certificate
// lands in `ca`. The leaf is then the first one that is not a CA.
void pick_leaf(Material& m, STACK_OF(X509) * all) {
    std::vector<X509Ptr> certs;
    while (X509* x = sk_X509_shift(all)) certs.emplace_back(x);
    if (!m.leaf && !certs.empty()) {
        auto leaf = std::ranges::find_if(
            certs, [](const X509Ptr& x) { return X509_check_ca(x.get()) == 0; });
        if (leaf == certs.end()) leaf = certs.begin();
        m.leaf = std::move(*leaf);
        certs.erase(leaf);
    }
    m.chain = std::move(certs);
}

std::string load_pkcs12(const std::filesystem::path& file, std::string_view password, Material& m) {
    std::string reason;
    BioPtr bio = open_file(file, reason);
    if (!bio) return reason;
    Pkcs12Ptr p12(d2i_PKCS12_bio(bio.get(), nullptr));
    if (!p12) {
        ERR_clear_error();
        return "not a PKCS#12 file";
    }
    const std::string pass(password);
    EVP_PKEY* key = nullptr;
    X509* leaf = nullptr;
    STACK_OF(X509)* ca = nullptr;
    if (!PKCS12_parse(p12.get(), pass.c_str(), &key, &leaf, &ca)) {
        const auto failure = tlsstack::pkcs12_failure(ERR_peek_last_error());
        std::string detail = openssl_reason();
        switch (failure) {
            case tlsstack::Pkcs12Failure::wrong_password:
                return "wrong PKCS#12 password";
            case tlsstack::Pkcs12Failure::not_pkcs12:
                return "not a PKCS#12 file";
            case tlsstack::Pkcs12Failure::other:
                break;
        }
        return "cannot read the PKCS#12 file: " + detail;
    }
    m.key.reset(key);
    m.leaf.reset(leaf);
    if (ca) {
        pick_leaf(m, ca);
        sk_X509_free(ca);
    }
    if (!m.leaf) return "the PKCS#12 file holds no certificate";
    if (!m.key) m.key_problem = "no private key in the PKCS#12 file";
    return {};
}

Thumbprint thumbprint_of(X509* x) {
    Thumbprint t;
    unsigned int len = 0;
    X509_digest(x, EVP_sha1(), t.bytes.data(), &len);
    return t;
}

std::string subject_of(X509* x) {
    BioPtr out(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(out.get(), X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    long len = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

std::string utf8(const ASN1_STRING* s) {
    unsigned char* text = nullptr;
    int len = ASN1_STRING_to_UTF8(&text, s);
    if (len < 0) return {};
    std::string out(reinterpret_cast<char*>(text), static_cast<std::size_t>(len));
    OPENSSL_free(text);
    return out;
}

std::string common_name_of(X509* x) {
    X509_NAME* name = X509_get_subject_name(x);
    int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (index < 0) return {};
    return utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
}

std::vector<std::string> dns_names_of(X509* x) {
    std::vector<std::string> names;
    auto* sans =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
    if (!sans) return names;
    const int count = static_cast<int>(sk_GENERAL_NAME_num(sans));  // size_t on BoringSSL
    for (int i = 0; i < count; ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
        if (name->type == GEN_DNS) names.push_back(utf8(name->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
    return names;
}

// "RSA-2048", "EC-P256", "ED25519": the certificate's public key, so it is known even when the
// private key is missing.
std::string key_type_of(X509* x) {
    PkeyPtr key(X509_get_pubkey(x));
    if (!key) return "unknown";
    switch (EVP_PKEY_base_id(key.get())) {
        case EVP_PKEY_RSA:
            return "RSA-" + std::to_string(EVP_PKEY_bits(key.get()));
        case EVP_PKEY_EC: {
            std::string curve = tlsstack::ec_curve_name(key.get());
            return curve.empty() ? "EC" : "EC-" + curve;
        }
        default:
            return tlsstack::key_algorithm_name(key.get());
    }
}

CertificateInfo describe(X509* leaf, const std::filesystem::path& file) {
    CertificateInfo info;
    info.thumbprint = thumbprint_of(leaf);
    info.subject = subject_of(leaf);
    info.common_name = common_name_of(leaf);
    info.dns_names = dns_names_of(leaf);
    info.not_before = tlsstack::to_time_point(X509_get0_notBefore(leaf));
    info.not_after = tlsstack::to_time_point(X509_get0_notAfter(leaf));
    info.key_type = key_type_of(leaf);
    info.file = file;
    return info;
}

// The SSL_CTX every certificate gets: TLS server method, protocol range TLS 1.0 - 1.3 with
// legacy algorithms allowed (so a lab can reproduce legacy clients; record flags narrow it per
// connection, L7), session cache and tickets on.
SSL_CTX* new_server_ctx() {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) return nullptr;
    // TLS 1.0/1.1 and SHA-1 signatures allowed, so that a lab can reproduce the legacy
    // clients of src/bindings/README.md section 5; per-connection flags narrow the range again
    // (L7).
    tlsstack::allow_legacy_algorithms(ctx.get());
    static constexpr unsigned char kSessionContext[] = "snibind";
    bool ok =
        SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION) == 1 &&
        SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION) == 1 &&
        SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1) == 1;
    if (!ok) return nullptr;
    // Without auto-clear, OpenSSL 3.0 no longer walks the whole cache (up to 20480 sessions)
    // every 255 handshakes to drop expired ones: a full cache evicts its oldest session on
    // insert, and a lookup never resumes an expired one, so the cache still stays bounded.
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_AUTO_CLEAR);
    // One TLS 1.3 ticket, not OpenSSL's default two: the second costs a session copy, a cache
    // insert and random bytes on every handshake, and a client that uses each ticket once
    // (RFC 8446 appendix C.4) gets a fresh one with every resumption.
    SSL_CTX_set_num_tickets(ctx.get(), 1);
    // The chain sent is exactly the one the file holds. Without this, a file with no chain
    // certificates makes OpenSSL build one per handshake (X509_verify_cert against the
    // context's store, which is always empty here, so it found only the leaf anyway).
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_NO_AUTO_CHAIN);
    return ctx.release();
}

// The SSL_CTX serving `m`, or null with `problem` set when the key cannot be used (L9).
SSL_CTX* build_ctx(Material& m, std::string& problem) {
    if (!m.key) return nullptr;
    if (!X509_check_private_key(m.leaf.get(), m.key.get())) {
        ERR_clear_error();
        problem = "private key does not match the certificate";
        return nullptr;
    }
    SslCtxPtr ctx(new_server_ctx());
    if (!ctx) {
        problem = "cannot create an SSL context: " + openssl_reason();
        return nullptr;
    }
    bool ok = SSL_CTX_use_certificate(ctx.get(), m.leaf.get()) == 1;
    for (const auto& c : m.chain) ok = ok && SSL_CTX_add1_chain_cert(ctx.get(), c.get()) == 1;
    ok = ok && SSL_CTX_use_PrivateKey(ctx.get(), m.key.get()) == 1 &&
         SSL_CTX_check_private_key(ctx.get()) == 1;
    if (!ok) {
        problem = "OpenSSL refused the certificate or key: " + openssl_reason();
        return nullptr;
    }
    return ctx.release();
}

bool is_pkcs12(const std::filesystem::path& file) {
    auto ext = to_lower(file.extension().string());
    return ext == ".pfx" || ext == ".p12";
}

}  // namespace

Certificate::Certificate(CertificateInfo info, SSL_CTX* ctx) : info_(std::move(info)), ctx_(ctx) {}

Certificate::~Certificate() {
    SSL_CTX_free(ctx_);
}

bool Certificate::covers(std::string_view host) const {
    auto matches = [host](std::string_view pattern) { return host_pattern_matches(pattern, host); };
    if (!info_.dns_names.empty()) return std::ranges::any_of(info_.dns_names, matches);
    return !info_.common_name.empty() && matches(info_.common_name);
}

bool Certificate::valid_at(std::chrono::system_clock::time_point now) const {
    return info_.not_before <= now && now <= info_.not_after;
}

LoadResult try_load_certificate(const std::filesystem::path& file, std::string_view password) {
    Material m;
    std::string reason =
        is_pkcs12(file) ? load_pkcs12(file, password, m) : load_pem(file, password, m);
    if (!reason.empty()) return {nullptr, std::move(reason)};
    CertificateInfo info = describe(m.leaf.get(), file);
    info.key_problem = m.key_problem;
    SSL_CTX* ctx = info.key_problem.empty() ? build_ctx(m, info.key_problem) : nullptr;
    return {std::make_shared<const Certificate>(std::move(info), ctx), {}};
}

std::shared_ptr<const Certificate> load_certificate(const std::filesystem::path& file,
                                                    std::string_view password, std::string& error) {
    LoadResult result = try_load_certificate(file, password);
    if (!result.certificate) error = file.string() + ": " + result.reason;
    return std::move(result.certificate);
}

}  // namespace snibind::certs
