#pragma once
// Everything `snibind serve` loads from its configuration, built in one go and then read-only:
// certificates and their TLS contexts, the records for the binding table, what to do with each
// record, and the IIS sites. A reload builds a new Runtime beside the old one; connections keep the
// Runtime they started with, so nothing they use is freed under them.
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "certs/certificate_store.h"
#include "config/config.h"
#include "http/backend_url.h"
#include "http/sites.h"
#include "iis/urlacl.h"

namespace snibind::proxy {

struct Runtime;

// What selection asks about certificates (L1 step 3, L9) for the records as this runtime acts
// on them: a forwarded record's certificate is the backend's to serve, so its key never fails
// L9 here, loaded or not; every other question goes to the certificate store.
class SelectionCertificates final : public CertificateSource {
  public:
    explicit SelectionCertificates(const Runtime& runtime) : runtime_(runtime) {}
    bool has_ccs_file(std::string_view file_name) const override;
    bool key_usable(const Record& record, std::string_view ccs_file) const override;

  private:
    const Runtime& runtime_;
};

struct Runtime {
    Runtime() = default;
    Runtime(const Runtime&) = delete;  // selection_certificates refers to this very object
    Runtime& operator=(const Runtime&) = delete;

    config::Config config;
    certs::CertificateStore certificates;
    // What every select_certificate() on this runtime's records is given.
    SelectionCertificates selection_certificates{*this};
    http::SiteRouter sites;
    // Each site's backend, parsed once (same order as sites.sites()); nullopt: the lab responder.
    std::vector<std::optional<http::BackendUrl>> site_backends;
    // Whether any request can reach the lab responder (no sites, or a site without a backend):
    // only then does a connection keep what the responder reports about its hello.
    bool lab_responder = true;
    // The records for the binding table: the store's, plus those the config creates, each with
    // its action_id set: 1..R index config.records, R+1.. config.applications, 0 is none.
    // `snibind serve` moves them into its BindingTable (empty here afterwards): read the table.
    std::vector<Record> records;
    // A TLS server context per certificate that can be served (shared by all threads).
    std::unordered_map<const certs::Certificate*, std::unique_ptr<boost::asio::ssl::context>>
        server_contexts;
    // The client side towards https:// site backends.
    std::unique_ptr<boost::asio::ssl::context> backend_context;
    // URL reservations (urlacl_store), shown by the admin console.
    std::vector<iis::UrlReservation> url_reservations;
    // Things the operator should know ("record X names certificate Y, which is not loaded").
    std::vector<std::string> warnings;

    // The `records:` or `applications:` entry for a decision's action_id, or nullptr (terminate).
    const config::RecordEntry* action(std::uint32_t action_id) const {
        if (action_id == 0) return nullptr;
        std::size_t i = action_id - 1;
        if (i < config.records.size()) return &config.records[i];
        i -= config.records.size();
        return i < config.applications.size() ? &config.applications[i] : nullptr;
    }
    // The entry when it forwards, else nullptr: a forwarded record's certificate is the
    // backend's to serve, never snibind's (selection's L9, check, the proxy all ask this).
    const config::RecordEntry* forward_action(std::uint32_t action_id) const {
        const config::RecordEntry* entry = action(action_id);
        return entry && entry->action == config::Action::forward ? entry : nullptr;
    }
    // The certificate a decision serves: by hash, or the CCS file. nullptr when missing.
    std::shared_ptr<const certs::Certificate> certificate_for(const Decision& d) const;
    boost::asio::ssl::context* server_context(const certs::Certificate* cert) const;
    // The backend of a site the router returned, or nullptr for the lab responder.
    const http::BackendUrl* backend_for(const http::Site* site) const {
        const auto& backend = site_backends[static_cast<std::size_t>(site - sites.sites().data())];
        return backend ? &*backend : nullptr;
    }
};

// Loads the store, certificates, CCS folder and sites a config names. On failure returns nullptr
// and sets `error` (file, line where there is one, and reason).
std::shared_ptr<Runtime> load_runtime(const config::Config& config, std::string& error);

}  // namespace snibind::proxy
