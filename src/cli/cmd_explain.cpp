// snibind explain: the HTTP.sys decision for one connection, step by step.
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "bindings/selection.h"
#include "cli/commands.h"
#include "cli/setting_options.h"
#include "model/model.h"
#include "netsh/store_file.h"
#include "report/json_output.h"
#include "text/ascii.h"

namespace snibind::cli {

namespace {

// A CCS folder as Windows sees it: file names compared case-insensitively.
class CcsFolder : public CertificateSource {
  public:
    explicit CcsFolder(const std::filesystem::path& dir) {
        for (const auto& entry : std::filesystem::directory_iterator(dir)) {
            if (!entry.is_regular_file()) continue;
            files_.push_back(to_lower(entry.path().filename().string()));
        }
    }
    bool has_ccs_file(std::string_view file_name) const override {
        for (const auto& f : files_)
            if (f == file_name) return true;
        return false;
    }

  private:
    std::vector<std::string> files_;
};

}  // namespace

void add_explain_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand(
        "explain",
        "Explain which HTTP.sys record a connection gets, trying each step of the lookup\n"
        "(src/bindings/README.md L1-L9). Either against a `snibind serve` configuration\n"
        "(--config: its store, records, certificates, CCS folder and settings, loaded as serve\n"
        "loads them, so the answer is serve's, L9 key checks included), or against a store in\n"
        "'netsh http show sslcert' format (--store; no certificate is read there, so L9 never\n"
        "fails). Without --sni the client sent no server_name.");
    struct Options {
        std::string config, store, dst, sni, ccs;
        // Given on the command line: they override the config's (or the defaults).
        std::optional<Profile> profile;
        std::optional<Precedence> precedence;
        std::optional<TrailingDot> trailing_dot;
        std::optional<UnusableKey> unusable_key;
        bool json = false;
    };
    auto opt = std::make_shared<Options>();
    cmd->add_option("--config", opt->config, "a `snibind serve` YAML configuration")
        ->check(CLI::ExistingFile);
    cmd->add_option("--store", opt->store,
                    "the store: text of 'netsh http show sslcert' (default: $SNIBIND_STORE)");
    cmd->add_option("--dst", opt->dst, "destination ADDR:PORT the client connected to ([::1]:443)")
        ->required();
    auto* sni = cmd->add_option("--sni", opt->sni, "the server_name the client sent");
    cmd->add_option("--ccs", opt->ccs,
                    "with --store: central certificate store folder of <host>.pfx files")
        ->check(CLI::ExistingDirectory);
    add_setting_option(cmd, "--profile", opt->profile, kProfileNames,
                       "Windows profile (default: the config's, else windows-2022)");
    add_setting_option(cmd, "--precedence", opt->precedence, kPrecedenceNames,
                       "L1/L2 (default: the config's, else sni-first)");
    add_setting_option(cmd, "--trailing-dot", opt->trailing_dot, kTrailingDotNames,
                       "L6 (default: the config's, else strip)");
    add_setting_option(cmd, "--unusable-key", opt->unusable_key, kUnusableKeyNames,
                       "L9 with --config (default: the config's, else fail)");
    cmd->add_flag("--json", opt->json,
                  "JSON: outcome, record, certhash, ccs_file, step, trace [{step, key, result}]");

    cmd->callback([opt, sni, &exit_code] {
        auto fail = [&](const std::string& why) {
            std::cerr << "snibind explain: " << why << "\n";
            exit_code = 2;
        };
        if (!opt->config.empty() && (!opt->store.empty() || !opt->ccs.empty()))
            return fail("--config names the store and the CCS folder: give it alone");
        if (opt->config.empty() && opt->store.empty()) {
            if (const char* env = std::getenv("SNIBIND_STORE")) opt->store = env;
        }
        if (opt->config.empty() && opt->store.empty())
            return fail("no store: give --config FILE, --store FILE or set SNIBIND_STORE");
        auto dst = Endpoint::parse(opt->dst);
        if (!dst) return fail("--dst '" + opt->dst + "' is not ADDR:PORT (IPv6 as [::1]:443)");

        // What serve would use: the model of the config (one CertificateSource: its certificate
        // store), or a store file with the CCS folder's file names.
        std::shared_ptr<const model::Model> model;
        std::optional<BindingTable> store_table;
        std::optional<CcsFolder> ccs;
        SelectionSettings settings;
        if (!opt->config.empty()) {
            std::string error;
            model = model::load_model(std::filesystem::path(opt->config), error);
            if (!model) return fail(error);
            settings = model->config.selection;
        } else {
            netsh::ImportError error;
            auto store = netsh::Store::load(opt->store, netsh::MissingFile::error, error);
            if (!store) return fail(error.message());
            store_table.emplace(store->records());
            if (!opt->ccs.empty()) ccs.emplace(opt->ccs);
        }
        if (opt->profile) settings.profile = *opt->profile;
        if (opt->precedence) settings.precedence = *opt->precedence;
        if (opt->trailing_dot) settings.trailing_dot = *opt->trailing_dot;
        if (opt->unusable_key) settings.unusable_key = *opt->unusable_key;

        std::string host;
        Connection conn = connection_for(
            *dst, sni->empty() ? std::nullopt : std::optional<std::string_view>(opt->sni),
            settings.trailing_dot, host);
        const CertificateSource* source = model ? &model->certificates
                                          : ccs ? static_cast<const CertificateSource*>(&*ccs)
                                                : nullptr;
        auto table = model ? model->table.read() : store_table->read();
        Decision d = select_certificate(table, conn, settings, source);
        if (opt->json) {
            std::cout << report::json_text(
                             report::decision_json(d, settings, chosen_record(table, d)))
                      << "\n";
        } else {
            std::cout << report::decision_text(d, settings, conn.sni_sent, opt->sni);
        }
        exit_code = 0;
    });
}

}  // namespace snibind::cli
