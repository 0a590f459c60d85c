// snibind serve: the proxy.
#include "cli/commands.h"
#include "server/server.h"

namespace snibind::cli {

void add_serve_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand(
        "serve",
        "Run the proxy: read each ClientHello, select a record as HTTP.sys would, then terminate\n"
        "TLS with its certificate (and route HTTP to the IIS sites, or answer with the decision)\n"
        "or forward the raw stream to its backend. SIGHUP, or a change to the store file,\n"
        "reloads (all but listen, admin and access_log, which need a restart); SIGTERM/SIGINT\n"
        "stop accepting and drain. One access-log line per connection.\n"
        "The admin console (the config's admin:, default http://127.0.0.1:9443/) shows the\n"
        "records, explains decisions, counts, and serves /metrics.");
    auto opt = std::make_shared<server::ServeOptions>();
    cmd->add_option("config", opt->config, "the YAML configuration (default config/lab.yaml)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--threads", opt->threads, "worker threads (default: one per core)")
        ->check(CLI::Range(1u, 1024u));
    cmd->add_flag("--watch", opt->watch,
                  "also reload when the config, certificate files and folders, the CCS folder\n"
                  "or the IIS/URL reservation files change (the store is always watched)");
    cmd->add_flag("--check", opt->check_only,
                  "load and check the configuration, certificates and store, then exit");
    cmd->callback([opt, &exit_code] { exit_code = server::serve(*opt); });
}

}  // namespace snibind::cli
