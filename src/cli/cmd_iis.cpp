// snibind iis import|bind-certificate|add-binding|remove-binding|delete-site: what IIS and IIS
// Manager do to applicationHost.config and to the HTTP.sys records (src/bindings/README.md I2, I3,
// I4).
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "bindings/profile.h"
#include "cli/commands.h"
#include "iis/application_host.h"
#include "iis/iis_records.h"
#include "netsh/store_file.h"

namespace snibind::cli {

namespace {

constexpr int kUsage = 2;

struct Common {
    std::string config, store, profile{to_string(kDefaultProfile)};
};

void add_common(CLI::App* cmd, Common& c, bool config_positional) {
    if (config_positional) cmd->add_option("CONFIG", c.config, "applicationHost.config");
    cmd->add_option("--config", c.config,
                    "applicationHost.config (default: $SNIBIND_APPLICATION_HOST)")
        ->envname("SNIBIND_APPLICATION_HOST");
    cmd->add_option("--store", c.store,
                    "the HTTP.sys store, text of 'netsh http show sslcert' (default: "
                    "$SNIBIND_STORE)")
        ->envname("SNIBIND_STORE");
    cmd->add_option(
        "--profile", c.profile,
        "Windows version to imitate: " + std::string(profile_names()) + " (default windows-2022)");
}

// A thumbprint as people paste it from the certificate dialog: spaces allowed.
std::optional<Thumbprint> parse_thumbprint(std::string text) {
    std::erase(text, ' ');
    return Thumbprint::parse(text);
}

bool notice_is_warning(iis::Notice::Kind kind) {
    using K = iis::Notice::Kind;
    return kind != K::shares_record && kind != K::already_present;
}

void print_notices(const std::vector<iis::Notice>& notices) {
    for (const auto& n : notices)
        std::cout << (notice_is_warning(n.kind) ? "warning: " : "note: ") << n.message << "\n";
}

// Locks and loads the config and store named in `c`; on failure prints why and returns false.
// Every command here may write both files, so both locks are held from before the loads until
// the process ends: the config's first, then the store's (appcmd takes only the first, netsh
// and the server only the second, so no two writers can wait on each other).
struct Loaded {
    std::optional<netsh::EditLock> config_lock, store_lock;
    std::optional<iis::ApplicationHost> config;
    std::optional<netsh::Store> store;
    Profile profile = kDefaultProfile;
};

bool lock(const std::string& file, const char* command, std::optional<netsh::EditLock>& out) {
    std::string error;
    out = netsh::EditLock::acquire(file, error);
    if (!out) std::cerr << "snibind iis " << command << ": " << error << " (nothing changed)\n";
    return out.has_value();
}

bool load(const Common& c, const char* command, Loaded& out) {
    auto profile = parse_profile(c.profile);
    if (!profile) {
        std::cerr << "snibind iis " << command << ": unknown profile '" << c.profile
                  << "' (one of: " << profile_names() << ")\n";
        return false;
    }
    out.profile = *profile;
    if (c.config.empty() || c.store.empty()) {
        std::cerr << "snibind iis " << command
                  << ": give --config FILE (or $SNIBIND_APPLICATION_HOST) and --store FILE (or "
                     "$SNIBIND_STORE)\n";
        return false;
    }
    if (!lock(c.config, command, out.config_lock)) return false;
    // One file given as both would wait for its own lock.
    std::error_code ec;
    if (!std::filesystem::equivalent(c.config, c.store, ec) &&
        !lock(c.store, command, out.store_lock)) {
        return false;
    }
    netsh::ImportError error;
    out.config = iis::ApplicationHost::load(c.config, error);
    if (!out.config) {
        std::cerr << "snibind iis " << command << ": " << error.message() << "\n";
        return false;
    }
    out.store = netsh::Store::load(c.store, netsh::MissingFile::empty, error);
    if (!out.store) {
        std::cerr << "snibind iis " << command << ": " << error.message() << "\n";
        return false;
    }
    return true;
}

int finish(const Common& c, const char* command, Loaded& loaded, const iis::ManagerResult& r) {
    if (!r.ok) {
        std::cerr << "snibind iis " << command << ": " << r.error << " (nothing changed)\n";
        return 1;
    }
    std::string error;
    if (!loaded.config->save(c.config, error) || !loaded.store->save(c.store, error)) {
        std::cerr << "snibind iis " << command << ": " << error << "\n";
        return kUsage;
    }
    for (const auto& a : r.actions) std::cout << a << "\n";
    print_notices(r.notices);
    return 0;
}

// Every IIS Manager command: load both files, make the change, save both and report.
template <typename Change>
int manage(const Common& c, const char* command, Change change) {
    Loaded loaded;
    if (!load(c, command, loaded)) return kUsage;
    return finish(c, command, loaded, change(loaded));
}

void add_import(CLI::App& iis, int& exit_code) {
    auto* cmd = iis.add_subcommand(
        "import",
        "Add the HTTP.sys records IIS would create for the https bindings of an\n"
        "applicationHost.config (I2) to a store, and optionally write the sites: section of the\n"
        "proxy config. Non-SNI bindings on one IP:port share one record: the first site's\n"
        "certificate wins (I3). An existing record is never overwritten (S2).");
    struct Options {
        Common c;
        std::vector<std::string> certificates;
        std::string sites_yaml;
    };
    auto opt = std::make_shared<Options>();
    add_common(cmd, opt->c, true);
    cmd->add_option("--certificate", opt->certificates,
                    "SITE=THUMBPRINT: the certificate of a site's https bindings (wins over the "
                    "binding's certificateHash attribute); repeatable");
    cmd->add_option("--sites-yaml", opt->sites_yaml,
                    "write the proxy config's sites: section to this file ('-': stdout)");
    cmd->callback([opt, &exit_code] {
        Loaded loaded;
        if (!load(opt->c, "import", loaded)) {
            exit_code = kUsage;
            return;
        }
        iis::SiteCertificates certificates;
        for (const auto& arg : opt->certificates) {
            auto eq = arg.rfind('=');
            auto hash =
                eq == std::string::npos ? std::nullopt : parse_thumbprint(arg.substr(eq + 1));
            if (!hash) {
                std::cerr << "snibind iis import: --certificate '" << arg
                          << "' is not SITE=THUMBPRINT (40 hex digits)\n";
                exit_code = kUsage;
                return;
            }
            std::string site = arg.substr(0, eq);
            if (!loaded.config->find_site(site)) {
                std::cerr << "snibind iis import: --certificate: no site '" << site << "' in "
                          << opt->c.config << "\n";
                exit_code = kUsage;
                return;
            }
            certificates[site] = *hash;
        }
        auto plan = iis::plan_records(loaded.config->sites(), certificates, loaded.profile);
        auto added = iis::import_records(plan, *loaded.store);
        std::string error;
        if (!added.empty() && !loaded.store->save(opt->c.store, error)) {
            std::cerr << "snibind iis import: " << error << "\n";
            exit_code = kUsage;
            return;
        }
        if (!opt->sites_yaml.empty()) {
            auto yaml = iis::sites_yaml(iis::to_http_sites(loaded.config->sites()));
            if (opt->sites_yaml == "-") {
                std::cout << yaml;
            } else if (!netsh::write_file_atomically(opt->sites_yaml, yaml, error)) {
                std::cerr << "snibind iis import: " << error << "\n";
                exit_code = kUsage;
                return;
            }
        }
        for (const auto& key : added) {
            const Record* r = loaded.store->find(key);
            std::cout << "added " << key.netsh_argument();
            if (r && r->certhash) std::cout << " certhash=" << r->certhash->hex();
            std::cout << "\n";
        }
        print_notices(plan.notices);
        exit_code = 0;
    });
}

void add_manager_commands(CLI::App& iis, int& exit_code) {
    struct Options {
        Common c;
        std::string site, binding, certhash, ssl_flags;
    };
    auto site_option = [](CLI::App* cmd, Options& o) {
        cmd->add_option("--site", o.site, "the site's name")->required();
    };
    auto binding_option = [](CLI::App* cmd, Options& o) {
        cmd->add_option("--binding", o.binding,
                        "bindingInformation '*:443:host' (https) or 'PROTOCOL/IP:port:host'")
            ->required();
    };

    auto bind = std::make_shared<Options>();
    auto* bind_cmd = iis.add_subcommand(
        "bind-certificate",
        "IIS Manager, Edit Site Binding, SSL certificate: delete and add the binding's record\n"
        "with the new certificate. A non-SNI binding shares its IP:port record with every\n"
        "other non-SNI binding there: they all get the new certificate (I3), and are reported.");
    add_common(bind_cmd, bind->c, false);
    site_option(bind_cmd, *bind);
    binding_option(bind_cmd, *bind);
    bind_cmd->add_option("--certhash", bind->certhash, "the certificate's thumbprint")->required();
    bind_cmd->callback([bind, &exit_code] {
        auto hash = parse_thumbprint(bind->certhash);
        if (!hash) {
            std::cerr << "snibind iis bind-certificate: --certhash is not 40 hex digits\n";
            exit_code = kUsage;
            return;
        }
        exit_code = manage(bind->c, "bind-certificate", [&](Loaded& l) {
            return iis::bind_certificate(*l.config, *l.store, bind->site, bind->binding, *hash,
                                         l.profile);
        });
    });

    auto add = std::make_shared<Options>();
    auto* add_cmd = iis.add_subcommand(
        "add-binding",
        "IIS Manager, Add Site Binding: add the binding to the site and, for https with\n"
        "--certhash, its record as bind-certificate does.");
    add_common(add_cmd, add->c, false);
    site_option(add_cmd, *add);
    binding_option(add_cmd, *add);
    add_cmd->add_option("--ssl-flags", add->ssl_flags, "sslFlags: 1 SNI, 2 CCS, ... (I1)");
    add_cmd->add_option("--certhash", add->certhash, "the certificate's thumbprint");
    add_cmd->callback([add, &exit_code] {
        iis::IisBinding b;
        std::tie(b.protocol, b.binding_information) = iis::split_binding_argument(add->binding);
        if (!add->ssl_flags.empty()) {
            auto flags = iis::parse_ssl_flags(add->ssl_flags);
            if (!flags) {
                std::cerr << "snibind iis add-binding: --ssl-flags '" << add->ssl_flags
                          << "' is not a number or flag names\n";
                exit_code = kUsage;
                return;
            }
            b.ssl_flags = *flags;
        }
        if (!add->certhash.empty()) {
            b.certificate_hash = parse_thumbprint(add->certhash);
            if (!b.certificate_hash) {
                std::cerr << "snibind iis add-binding: --certhash is not 40 hex digits\n";
                exit_code = kUsage;
                return;
            }
            b.certificate_store_name = "MY";
        }
        exit_code = manage(add->c, "add-binding", [&](Loaded& l) {
            return iis::add_binding(*l.config, *l.store, add->site, b, l.profile);
        });
    });

    auto remove = std::make_shared<Options>();
    auto* remove_cmd = iis.add_subcommand(
        "remove-binding",
        "IIS Manager, Site Bindings, Remove: the binding goes and so does its HTTP.sys record,\n"
        "even when other sites' non-SNI bindings use it: they lose HTTPS (I3), and are reported.");
    add_common(remove_cmd, remove->c, false);
    site_option(remove_cmd, *remove);
    binding_option(remove_cmd, *remove);
    remove_cmd->callback([remove, &exit_code] {
        exit_code = manage(remove->c, "remove-binding", [&](Loaded& l) {
            return iis::remove_binding(*l.config, *l.store, remove->site, remove->binding,
                                       l.profile);
        });
    });

    auto del = std::make_shared<Options>();
    auto* del_cmd = iis.add_subcommand(
        "delete-site",
        "IIS Manager, Remove site: the records of its https bindings are deleted, shared ones\n"
        "included (pitfall 4: siblings lose HTTPS, and are reported), then the site.");
    add_common(del_cmd, del->c, false);
    site_option(del_cmd, *del);
    del_cmd->callback([del, &exit_code] {
        exit_code = manage(del->c, "delete-site", [&](Loaded& l) {
            return iis::delete_site(*l.config, *l.store, del->site, l.profile);
        });
    });
}

}  // namespace

void add_iis_command(CLI::App& app, int& exit_code) {
    auto* iis = app.add_subcommand(
        "iis",
        "IIS on top of HTTP.sys (src/bindings/README.md section 4): import an "
        "applicationHost.config and\n"
        "replay what IIS Manager does to the HTTP.sys records. Output: one line per change\n"
        "('added ipport=...', 'deleted ...'), then 'note:' and 'warning:' lines about sites\n"
        "sharing or losing a record. Exit status 0 done, 1 refused (nothing changed), 2 bad\n"
        "usage or unreadable files.");
    iis->require_subcommand(1);
    add_import(*iis, exit_code);
    add_manager_commands(*iis, exit_code);
}

}  // namespace snibind::cli
