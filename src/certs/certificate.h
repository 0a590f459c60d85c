#pragma once
// One server certificate as Windows would hold it in the machine's MY store: the DER certificate,
// its chain, its private key, and the thumbprint HTTP.sys records name it by (SHA-1 of the DER).
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/ssl.h>

#include "bindings/record.h"

namespace snibind::certs {

struct CertificateInfo {
    Thumbprint thumbprint;               // SHA-1 of the leaf's DER encoding
    std::string subject;                 // RFC 2253 one line: "CN=sitev1.mysite.com,O=Lab"
    std::string common_name;             // empty when the subject has no CN
    std::vector<std::string> dns_names;  // subjectAltName DNS entries, as written
    std::chrono::system_clock::time_point not_before, not_after;
    std::string key_type;        // "RSA-2048", "EC-P256", ...
    std::filesystem::path file;  // where it was loaded from
    // L9: empty when the private key can be used; otherwise why not ("no private key in the
    // file", "wrong PKCS#12 password", "key does not match certificate", ...).
    std::string key_problem;
    bool key_usable() const { return key_problem.empty(); }
};

// Immutable after load and shared by every thread. The SSL_CTX (one per certificate, built once)
// holds the leaf, the chain and the key; it is null when the key is unusable.
class Certificate {
  public:
    Certificate(CertificateInfo info, SSL_CTX* ctx);  // takes ownership of ctx
    ~Certificate();
    Certificate(const Certificate&) = delete;
    Certificate& operator=(const Certificate&) = delete;

    const CertificateInfo& info() const { return info_; }
    const Thumbprint& thumbprint() const { return info_.thumbprint; }
    SSL_CTX* ctx() const { return ctx_; }

    // I7: whether the certificate names this host (already lower case): SAN DNS entries when
    // there are any (the CN is then ignored), else the CN; "*.contoso.com" covers exactly one
    // left-most label.
    bool covers(std::string_view host) const;
    // Whether `now` lies within not_before .. not_after.
    bool valid_at(std::chrono::system_clock::time_point now) const;

  private:
    CertificateInfo info_;
    SSL_CTX* ctx_;
};

// Loads one file: ".pem"/".crt" (leaf first, then chain, and the private key in the same file or
// in "<stem>.key" next to it) or ".pfx"/".p12" (PKCS#12 with `password`). An unusable key does not
// fail the load: the certificate is returned with info().key_problem set. Returns nullptr when the
// file holds no certificate at all, with `error` saying why ("FILE: not a PEM or PKCS#12 file").
std::shared_ptr<const Certificate> load_certificate(const std::filesystem::path& file,
                                                    std::string_view password, std::string& error);

// load_certificate with the reason kept apart from the file name, for callers that keep a file
// they could not read (the CCS folder: a .pfx with a wrong password still "exists" for L1 step 3,
// and its key is unusable for L9). `reason` is empty when `certificate` is set.
struct LoadResult {
    std::shared_ptr<const Certificate> certificate;
    std::string reason;  // "wrong PKCS#12 password", "no such file", ...
};
LoadResult try_load_certificate(const std::filesystem::path& file, std::string_view password);

}  // namespace snibind::certs
