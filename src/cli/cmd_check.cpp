// snibind check: one report over a whole configuration (store, sites, certificates).
#include <iostream>

#include "check/check.h"
#include "cli/commands.h"
#include "cli/setting_options.h"
#include "report/json_output.h"

namespace snibind::cli {

void add_check_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand(
        "check",
        "Explain a whole configuration: for every site and host name, what a client with SNI,\n"
        "one without SNI, and one under each other Windows profile gets, and whether the\n"
        "certificate names the host (I7); then the traps (shared certificates, fixed-IP\n"
        "records shadowing SNI under ip-first, SNI-only ports, missing/expired certificates,\n"
        "unusable keys, CCS sites without a .pfx, IIS Express ports), each with a severity,\n"
        "its rule and a one-line fix. Exit status: 0 clean, 1 findings, 2 unusable input.\n"
        "Give the serve configuration, or the pieces with the options.");
    struct Options {
        std::string config, store, iis, ccs, ccs_password;
        std::optional<Profile> profile;        // else the config's
        std::optional<Precedence> precedence;  // else the config's
        std::vector<std::string> certificates, listen;
        bool json = false;
    };
    auto opt = std::make_shared<Options>();
    cmd->add_option("config", opt->config, "a `snibind serve` YAML configuration")
        ->check(CLI::ExistingFile);
    cmd->add_option("--store", opt->store, "a netsh 'show sslcert' store (without CONFIG)");
    cmd->add_option("--iis", opt->iis, "an IIS applicationHost.config: its sites (without CONFIG)");
    cmd->add_option("--certificates", opt->certificates, "certificate files or folders")
        ->expected(1, -1);
    cmd->add_option("--ccs", opt->ccs, "the CCS folder of <host>.pfx files");
    cmd->add_option("--ccs-password", opt->ccs_password, "the CCS files' password");
    cmd->add_option("--listen", opt->listen,
                    "addresses clients connect to (for '*' bindings; default: an unassigned one)")
        ->expected(1, -1);
    add_setting_option(cmd, "--profile", opt->profile, kProfileNames,
                       "Windows profile (default: the config's, else windows-2022)");
    add_setting_option(cmd, "--precedence", opt->precedence, kPrecedenceNames,
                       "L1/L2 (default: the config's, else sni-first)");
    cmd->add_flag("--json", opt->json, "JSON: hosts [{site, binding, probes}], findings");

    cmd->callback([opt, &exit_code] {
        auto fail = [&](const std::string& why) {
            std::cerr << "snibind check: " << why << "\n";
            exit_code = 2;
        };
        config::Config config;
        if (!opt->config.empty()) {
            config::ConfigError error;
            auto loaded = config::load_config(opt->config, error);
            if (!loaded) return fail(error.message());
            config = std::move(*loaded);
        } else {
            config.file = "(command line)";
            if (!opt->store.empty()) config.store = opt->store;
            if (!opt->iis.empty()) config.iis_config = opt->iis;
            for (const auto& c : opt->certificates) config.certificates.emplace_back(c);
            if (!opt->ccs.empty()) {
                config.ccs_folder = opt->ccs;
                config.ccs_password = opt->ccs_password;
            }
            for (const auto& l : opt->listen) {
                auto e = Endpoint::parse(l);
                if (!e) return fail("--listen '" + l + "' is not ADDR:PORT");
                config.listen.push_back({*e, false});
            }
        }
        if (opt->profile) config.selection.profile = *opt->profile;
        if (opt->precedence) config.selection.precedence = *opt->precedence;
        std::string error;
        auto runtime = model::load_model(config, error);
        if (!runtime) return fail(error);
        check::Report report = check::check(*runtime);
        if (opt->json)
            std::cout << snibind::report::json_text(check::report_json(report)) << "\n";
        else
            std::cout << check::report_text(report);
        exit_code = report.exit_status();
    });
}

}  // namespace snibind::cli
