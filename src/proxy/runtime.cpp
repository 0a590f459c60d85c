#include "proxy/runtime.h"

#include <fmt/format.h>
#include <openssl/ssl.h>

#include "iis/application_host.h"
#include "netsh/store_file.h"

namespace snibind::proxy {

namespace ssl = boost::asio::ssl;

namespace {

// snibind speaks HTTP/1.1 only after termination, so it never selects h2: a record's
// "disable HTTP/2" flag (L7) is always honoured. A client that offers no http/1.1 gets no ALPN.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
    static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

std::string at_line(const config::Config& config, int line) {
    return line > 0 ? fmt::format("{}:{}: ", config.file.string(), line)
                    : fmt::format("{}: ", config.file.string());
}

// Applies the `records:` entries to the store's records: an entry for a key the store has adds
// its action (and flags); one for a key it lacks creates the record.
bool merge_records(const config::Config& config, certs::CertificateStore& certificates,
                   std::vector<Record>& records, std::string& error) {
    for (std::size_t i = 0; i < config.records.size(); ++i) {
        const config::RecordEntry& entry = config.records[i];
        std::optional<Thumbprint> hash = entry.certhash;
        if (entry.certificate) {
            std::string why;
            auto cert =
                certs::load_certificate(*entry.certificate, config.certificate_password, why);
            if (!cert) {
                error = at_line(config, entry.line) + why;
                return false;
            }
            hash = cert->thumbprint();
            if (!certificates.find(*hash)) certificates.add(cert);
        }
        auto it = std::find_if(records.begin(), records.end(),
                               [&](const Record& r) { return r.key == entry.key; });
        if (it == records.end()) {
            if (!hash && entry.key.family != Family::ccs &&
                entry.key.family != Family::scoped_ccs) {
                error = at_line(config, entry.line) +
                        fmt::format(
                            "record {} is not in the store: give it a certificate or a "
                            "certhash",
                            entry.key.netsh_argument());
                return false;
            }
            Record r;
            r.key = entry.key;
            r.certhash = hash;
            r.appid = entry.appid;
            records.push_back(std::move(r));
            it = records.end() - 1;
        } else if (hash && it->certhash && *hash != *it->certhash) {
            error = at_line(config, entry.line) +
                    fmt::format(
                        "record {} is in the store with certhash {}, but the config gives "
                        "{}; change the store with 'snibind netsh http update sslcert'",
                        entry.key.netsh_argument(), it->certhash->hex(), hash->hex());
            return false;
        } else if (hash && !it->certhash) {
            it->certhash = hash;
        }
        it->flags = (it->flags | entry.flags_set) & ~entry.flags_cleared;
        it->action_id = static_cast<std::uint32_t>(i + 1);
    }
    // `applications:` after `records:`, so a record's own entry wins over its application's.
    if (config.applications.empty()) return true;
    for (Record& r : records) {
        if (r.action_id != 0 || !r.appid) continue;
        for (std::size_t i = 0; i < config.applications.size(); ++i) {
            if (config.applications[i].appid == r.appid) {
                r.action_id = static_cast<std::uint32_t>(config.records.size() + i + 1);
                break;
            }
        }
    }
    return true;
}

std::unique_ptr<ssl::context> wrap_server_context(SSL_CTX* ctx) {
    SSL_CTX_up_ref(ctx);  // asio's context frees its handle; the Certificate keeps its own
    auto wrapped = std::make_unique<ssl::context>(ctx);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
    return wrapped;
}

}  // namespace

bool SelectionCertificates::has_ccs_file(std::string_view file_name) const {
    return runtime_.certificates.has_ccs_file(file_name);
}

bool SelectionCertificates::key_usable(const Record& record, std::string_view ccs_file) const {
    return runtime_.forward_action(record.action_id) ||
           runtime_.certificates.key_usable(record, ccs_file);
}

std::shared_ptr<const certs::Certificate> Runtime::certificate_for(const Decision& d) const {
    if (d.certhash) return certificates.find(*d.certhash);
    if (d.step == Step::ccs || d.step == Step::scoped_ccs) return certificates.ccs(d.ccs_file());
    return nullptr;
}

ssl::context* Runtime::server_context(const certs::Certificate* cert) const {
    auto it = server_contexts.find(cert);
    return it == server_contexts.end() ? nullptr : it->second.get();
}

std::shared_ptr<Runtime> load_runtime(const config::Config& config, std::string& error) {
    auto rt = std::make_shared<Runtime>();
    rt->config = config;

    if (config.store) {
        // A store that does not exist yet is an empty machine: `snibind netsh ... --store` or the
        // console's netsh endpoint creates it, and the watcher then loads it.
        netsh::ImportError import_error;
        auto store = netsh::Store::load(*config.store, netsh::MissingFile::empty, import_error);
        if (!store) {
            error = import_error.message();
            return nullptr;
        }
        std::error_code ec;
        if (!std::filesystem::exists(*config.store, ec))
            rt->warnings.push_back(fmt::format("store {} does not exist yet: no records from it",
                                               config.store->string()));
        rt->records = std::move(*store).release_records();
    }
    if (!rt->certificates.add_paths(config.certificates, config.certificate_password, error))
        return nullptr;
    if (config.ccs_folder &&
        !rt->certificates.set_ccs({*config.ccs_folder, config.ccs_password}, error))
        return nullptr;
    if (!merge_records(config, rt->certificates, rt->records, error)) return nullptr;

    for (const auto& problem : rt->certificates.problems())
        rt->warnings.push_back(fmt::format("{}: {}", problem.file.string(), problem.reason));
    for (const auto& cert : rt->certificates.all())
        if (cert->ctx()) rt->server_contexts.emplace(cert.get(), wrap_server_context(cert->ctx()));
    for (const auto& entry : rt->certificates.ccs_all())
        if (entry->ctx())
            rt->server_contexts.emplace(entry.get(), wrap_server_context(entry->ctx()));

    // Sites from an IIS applicationHost.config join those of the YAML (src/bindings/README.md I1).
    if (config.iis_config) {
        auto iis_sites = iis::load_iis_sites(*config.iis_config, error);
        if (!iis_sites) return nullptr;
        rt->config.sites.insert(rt->config.sites.end(), iis_sites->begin(), iis_sites->end());
    }
    if (config.urlacl_store) {
        netsh::ImportError import_error;
        auto urlacl =
            iis::UrlaclStore::load(*config.urlacl_store, netsh::MissingFile::empty, import_error);
        if (!urlacl) {
            error = import_error.message();
            return nullptr;
        }
        rt->url_reservations = urlacl->reservations();
    }
    rt->sites = http::SiteRouter(rt->config.sites);
    rt->lab_responder = rt->sites.empty();
    for (const auto& site : rt->sites.sites()) {
        std::string why;
        auto& backend = rt->site_backends.emplace_back();
        if (site.backend.empty()) {
            rt->lab_responder = true;
            continue;
        }
        backend = http::BackendUrl::parse(site.backend, why);
        if (!backend) {
            error = fmt::format("site '{}': backend '{}': {}", site.name, site.backend, why);
            return nullptr;
        }
    }
    rt->backend_context = std::make_unique<ssl::context>(ssl::context::tls_client);
    if (config.backend_verify) {
        rt->backend_context->set_default_verify_paths();
        rt->backend_context->set_verify_mode(ssl::verify_peer);
    } else {
        rt->backend_context->set_verify_mode(ssl::verify_none);
    }
    // Legacy backends are the point: allow what they speak.
    SSL_CTX_set_security_level(rt->backend_context->native_handle(), 0);
    SSL_CTX_set_min_proto_version(rt->backend_context->native_handle(), TLS1_VERSION);
    return rt;
}

}  // namespace snibind::proxy
