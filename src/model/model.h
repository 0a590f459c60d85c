#pragma once
// The loaded configuration of `snibind serve`, as data: the config, the certificates (parsed,
// keys checked), the binding table built from the store's records and the config's, what to do
// with each record, the IIS sites and their backends, the URL reservations. No sockets and no
// TLS contexts: `check`, `explain --config`, the admin API and the proxy all read this one
// object, and the proxy adds only its transport state (proxy/runtime.h).
//
// Built once by load_model() and read-only afterwards. A reload builds a new Model beside the
// old one; connections keep the one they started with, so nothing they use is freed under them.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bindings/binding_table.h"
#include "certs/certificate_store.h"
#include "config/config.h"
#include "http/backend_url.h"
#include "http/sites.h"
#include "iis/urlacl.h"

namespace snibind::model {

struct Model {
    Model() = default;
    Model(const Model&) = delete;  // the table and certificates are shared by pointer
    Model& operator=(const Model&) = delete;

    config::Config config;
    // Every certificate that can be served, and the CCS folder. Also what selection asks about
    // certificates (L1 step 3, L9): select_certificate(..., &certificates). A forwarded record's
    // key is never asked about (selection reads Record::action).
    certs::CertificateStore certificates;
    // The store's records plus those the config creates, each with its action_id and action:
    // action_id 1..R index config.records, R+1.. config.applications, 0 is none (terminate).
    BindingTable table;
    // The same records in the order they were loaded (store first, then the config's), for
    // reports that list them: the table's own order is its hash order.
    std::vector<const Record*> records;
    http::SiteRouter sites;
    // Each site's backend, parsed once (same order as sites.sites()); nullopt: the lab responder.
    std::vector<std::optional<http::BackendUrl>> site_backends;
    // Whether any request can reach the lab responder (no sites, or a site without a backend):
    // only then does a connection keep what the responder reports about its hello.
    bool lab_responder = true;
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
    // The certificate a decision serves: by hash, or the CCS file. nullptr when missing.
    std::shared_ptr<const certs::Certificate> certificate_for(const Decision& d) const;
    // The backend of a site the router returned, or nullptr for the lab responder.
    const http::BackendUrl* backend_for(const http::Site* site) const {
        const auto& backend = site_backends[static_cast<std::size_t>(site - sites.sites().data())];
        return backend ? &*backend : nullptr;
    }
};

// Loads the store, certificates, CCS folder and sites a config names. On failure returns nullptr
// and sets `error` (file, line where there is one, and reason).
std::shared_ptr<Model> load_model(const config::Config& config, std::string& error);
// The same, reading the config file first (`snibind serve`, `check`, `explain --config`).
std::shared_ptr<Model> load_model(const std::filesystem::path& config_file, std::string& error);

}  // namespace snibind::model
