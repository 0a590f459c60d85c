#pragma once
// `snibind serve`: the workers, the shared binding table, and the operations around them:
// SIGHUP (or a change to the store file) reloads; SIGTERM/SIGINT drain and exit 0.
#include <filesystem>

namespace snibind::proxy {

struct ServeOptions {
    std::filesystem::path config = "config/lab.yaml";
    unsigned threads = 0;     // 0: one per core
    bool check_only = false;  // load everything, report, exit (no listening)
    // Reload when the config, certificates, CCS folder or IIS files change on disk, not only
    // the store (mounted ConfigMaps and Secrets).
    bool watch = false;
};

// Runs until SIGTERM/SIGINT. Returns the process exit status: 0 after a clean drain, 1 when a
// listen address cannot be bound, 2 when the configuration is refused.
int serve(const ServeOptions& options);

}  // namespace snibind::proxy
