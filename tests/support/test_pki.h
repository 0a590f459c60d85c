#pragma once
// A throwaway PKI for tests: one CA and leaf certificates it signs, written as the files snibind
// loads (PEM with chain and key, a separate <stem>.key, PKCS#12). Made in-process with the OpenSSL
// API, so tests need no openssl binary. Failures throw std::runtime_error (test code only).
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/ossl_typ.h>  // both stacks have it

#include "bindings/record.h"

namespace snibind::test {

// A fresh directory under the system temp directory, removed with everything in it.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

enum class KeyType { ec_p256, rsa_2048 };

struct IssueOptions {
    // Validity relative to now: set not_after negative for an expired certificate, not_before
    // positive for one that is not valid yet.
    std::chrono::seconds not_before = std::chrono::hours(-1);
    std::chrono::seconds not_after = std::chrono::hours(24 * 365);
    bool separate_key_file = false;  // the key in <stem>.key instead of in <stem>.pem
    bool mismatched_key = false;     // every file gets the key of another key pair (L9)
    std::string pfx_password = "test";
    std::vector<std::string> ip_addresses;  // subjectAltName IP entries ("127.0.0.2")
};

class TestPki {
  public:
    // Creates `dir` when needed and a CA in it (ECDSA P-256, CN=snibind test CA): dir/ca.pem.
    explicit TestPki(std::filesystem::path dir);
    ~TestPki();
    TestPki(const TestPki&) = delete;
    TestPki& operator=(const TestPki&) = delete;

    struct Issued {
        std::filesystem::path pem;  // leaf, CA, then the key unless separate_key_file
        std::filesystem::path pfx;  // leaf, key and CA, with options.pfx_password
        std::filesystem::path key;  // <stem>.key with separate_key_file, else empty
        Thumbprint thumbprint;      // SHA-1 of the leaf's DER, computed here, not by the loader
    };

    // A leaf signed by the CA, written to dir/<file_stem>.pem, .pfx (and .key). An empty
    // common_name leaves the subject without a CN; empty dns_names (and no IPs) leaves out the
    // subjectAltName extension.
    Issued issue(std::string_view file_stem, std::string_view common_name,
                 std::vector<std::string> dns_names, KeyType key = KeyType::ec_p256,
                 IssueOptions options = {});

    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path ca_pem() const { return dir_ / "ca.pem"; }
    X509* ca_certificate() const { return ca_cert_; }  // owned by the TestPki

  private:
    std::filesystem::path dir_;
    EVP_PKEY* ca_key_ = nullptr;
    X509* ca_cert_ = nullptr;
    long next_serial_ = 1;
};

}  // namespace snibind::test
