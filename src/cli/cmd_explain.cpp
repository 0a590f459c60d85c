// snibind explain: the HTTP.sys decision for one connection, step by step.
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "bindings/selection.h"
#include "cli/commands.h"
#include "cli/setting_options.h"
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
        "(src/bindings/README.md L1-L9) against a store in 'netsh http show sslcert' format.\n"
        "Without --sni the client sent no server_name.");
    struct Options {
        std::string store, dst, sni, ccs;
        SelectionSettings settings;
        bool json = false;
    };
    auto opt = std::make_shared<Options>();
    cmd->add_option("--store", opt->store,
                    "the store: text of 'netsh http show sslcert' (default: $SNIBIND_STORE)");
    cmd->add_option("--dst", opt->dst, "destination ADDR:PORT the client connected to ([::1]:443)")
        ->required();
    auto* sni = cmd->add_option("--sni", opt->sni, "the server_name the client sent");
    cmd->add_option("--ccs", opt->ccs, "central certificate store folder of <host>.pfx files")
        ->check(CLI::ExistingDirectory);
    add_setting_option(cmd, "--profile", opt->settings.profile, kProfileNames,
                       "Windows profile (default windows-2022)");
    add_setting_option(cmd, "--precedence", opt->settings.precedence, kPrecedenceNames,
                       "L1/L2 (default sni-first)");
    add_setting_option(cmd, "--trailing-dot", opt->settings.trailing_dot, kTrailingDotNames,
                       "L6 (default strip)");
    cmd->add_flag("--json", opt->json,
                  "JSON: outcome, record, certhash, ccs_file, step, trace [{step, key, result}]");

    cmd->callback([opt, sni, &exit_code] {
        if (opt->store.empty()) {
            if (const char* env = std::getenv("SNIBIND_STORE")) opt->store = env;
        }
        if (opt->store.empty()) {
            std::cerr << "snibind explain: no store: give --store FILE or set SNIBIND_STORE\n";
            exit_code = 2;
            return;
        }
        auto dst = Endpoint::parse(opt->dst);
        if (!dst) {
            std::cerr << "snibind explain: --dst '" << opt->dst
                      << "' is not ADDR:PORT (IPv6 as [::1]:443)\n";
            exit_code = 2;
            return;
        }
        netsh::ImportError error;
        auto store = netsh::Store::load(opt->store, netsh::MissingFile::error, error);
        if (!store) {
            std::cerr << "snibind explain: " << error.message() << "\n";
            exit_code = 2;
            return;
        }
        const SelectionSettings& settings = opt->settings;

        std::string host;
        Connection conn = connection_for(
            *dst, sni->empty() ? std::nullopt : std::optional<std::string_view>(opt->sni),
            settings.trailing_dot, host);
        std::optional<CcsFolder> ccs;
        if (!opt->ccs.empty()) ccs.emplace(opt->ccs);

        BindingTable table(store->records());
        Decision d = select_certificate(table.read(), conn, settings, ccs ? &*ccs : nullptr);
        if (opt->json) {
            std::cout << report::json_text(report::decision_json(d, settings)) << "\n";
        } else {
            std::cout << report::decision_text(d, settings, conn.sni_sent, opt->sni);
        }
        exit_code = 0;
    });
}

}  // namespace snibind::cli
