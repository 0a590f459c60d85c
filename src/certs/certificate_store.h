#pragma once
// Every certificate snibind can serve, by thumbprint, plus the CCS folder (src/bindings/README.md
// L1 step 3, L9). Built once per (re)load and then read-only, shared by all threads.
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bindings/selection.h"
#include "certs/certificate.h"

namespace snibind::certs {

// Something worth telling the operator about a load, without failing it.
struct LoadProblem {
    std::filesystem::path file;
    std::string reason;  // "private key does not match the certificate", ...
};

struct CcsOptions {
    std::filesystem::path folder;  // empty: no CCS
    std::string password;          // for every .pfx in the folder
};

class CertificateStore : public CertificateSource {
  public:
    CertificateStore() = default;

    // Loads every path: a file (see load_certificate) or a folder (its .pem, .crt, .pfx and .p12
    // files, not recursive; "<stem>.key" files are keys, not certificates). `password` is for
    // PKCS#12 files. A file that cannot be read or holds no certificate is an error (returns
    // false, `error` names the file and the reason); an unusable key is a LoadProblem only.
    // Two files with the same thumbprint: the first wins, the second is a LoadProblem.
    bool add_paths(const std::vector<std::filesystem::path>& paths, std::string_view password,
                   std::string& error);
    // Adds one already-loaded certificate (tests, `records: {certificate: FILE}` entries).
    void add(std::shared_ptr<const Certificate> cert);
    // Loads the CCS folder: every "<host>.pfx" file, names compared case-insensitively.
    bool set_ccs(const CcsOptions& options, std::string& error);

    std::shared_ptr<const Certificate> find(const Thumbprint& thumbprint) const;
    // The CCS certificate for a file name as select_certificate names it ("www.contoso.com.pfx",
    // "_.contoso.com.pfx"), or nullptr.
    std::shared_ptr<const Certificate> ccs(std::string_view file_name) const;

    // CertificateSource (src/bindings/README.md L1 step 3, L9).
    bool has_ccs_file(std::string_view file_name) const override;
    // False when the record's certificate (by hash, or the CCS file) is missing or its key is
    // unusable.
    bool key_usable(const Record& record, std::string_view ccs_file) const override;

    const std::vector<LoadProblem>& problems() const { return problems_; }
    std::vector<std::shared_ptr<const Certificate>> all() const;      // by-hash certificates
    std::vector<std::shared_ptr<const Certificate>> ccs_all() const;  // the CCS folder's
    std::size_t size() const { return by_hash_.size(); }

  private:
    struct ThumbprintHash {
        std::size_t operator()(const Thumbprint& t) const noexcept;
    };
    std::unordered_map<Thumbprint, std::shared_ptr<const Certificate>, ThumbprintHash> by_hash_;
    std::unordered_map<std::string, std::shared_ptr<const Certificate>> ccs_;  // lower-case file
    std::vector<LoadProblem> problems_;
};

}  // namespace snibind::certs
