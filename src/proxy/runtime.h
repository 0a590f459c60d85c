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
#include "http/sites.h"
#include "iis/urlacl.h"

namespace snibind::proxy {

struct Runtime {
    config::Config config;
    certs::CertificateStore certificates;
    http::SiteRouter sites;
    // The records for the binding table: the store's, plus those the config creates, each with
    // its action_id set (Record::action_id - 1 indexes config.records).
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

    // The `records:` entry for a decision's action_id, or nullptr (terminate).
    const config::RecordEntry* action(std::uint32_t action_id) const {
        if (action_id == 0 || action_id > config.records.size()) return nullptr;
        return &config.records[action_id - 1];
    }
    // The certificate a decision serves: by hash, or the CCS file. nullptr when missing.
    std::shared_ptr<const certs::Certificate> certificate_for(const Decision& d) const;
    boost::asio::ssl::context* server_context(const certs::Certificate* cert) const;
};

// Loads the store, certificates, CCS folder and sites a config names. On failure returns nullptr
// and sets `error` (file, line where there is one, and reason).
std::shared_ptr<Runtime> load_runtime(const config::Config& config, std::string& error);

}  // namespace snibind::proxy
