#pragma once
// `snibind serve`: the workers and the operations around them. Load the configuration into a
// model (model/model.h) and the proxy's runtime, start one worker per thread and the admin
// console, then reload on SIGHUP or a change to the watched files, and drain on SIGTERM/SIGINT.
// Each phase is a member function, so a test can load and reload a Server without sockets.
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <spdlog/logger.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "admin/admin_server.h"
#include "model/model.h"
#include "proxy/access_log.h"
#include "proxy/runtime.h"
#include "proxy/worker.h"
#include "server/file_watch.h"

namespace snibind::server {

struct ServeOptions {
    std::filesystem::path config = "config/lab.yaml";
    unsigned threads = 0;     // 0: one per core
    bool check_only = false;  // load everything, report, exit (no listening)
    // Reload when the config, certificates, CCS folder or IIS files change on disk, not only
    // the store (mounted ConfigMaps and Secrets).
    bool watch = false;
};

// What a reload did.
struct ReloadResult {
    bool applied = false;
    std::string error;  // why it was refused (the running configuration stays)
    // Settings that changed but take effect only after a restart: "listen", "admin",
    // "access_log".
    std::vector<std::string> needs_restart;
};

class Server {
  public:
    explicit Server(ServeOptions options);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Loads the configuration and warns about what `snibind check` finds in its records.
    // Returns false with the message in `error` (file, line, reason).
    bool load(std::string& error);
    // Opens the listeners and starts the workers, the file watch and the admin console; the
    // "serving" line follows. Returns 0, or the exit status: 1 when an address cannot be bound.
    int start();
    // Runs until SIGTERM/SIGINT has drained every worker (or a second signal, or the drain
    // timeout, closed what was left), then logs the summary. Returns the exit status, 0.
    int run();

    // Loads the configuration again and hands the new model to every worker; new connections
    // use it, open ones keep theirs. A configuration that does not load changes nothing.
    ReloadResult reload(std::string_view why);
    // The model in effect now.
    std::shared_ptr<const model::Model> model() const { return runtime_->model; }

  private:
    std::vector<FileWatch::Target> watch_targets(const model::Model& model) const;
    void watch_files();
    void start_console();
    void wait_signal();
    void drain(int signal);
    void collect_stats(std::function<void(stats::Stats)> done);
    std::pair<int, std::string> apply_netsh(const std::vector<std::string>& words);
    void log_summary();

    ServeOptions options_;
    std::shared_ptr<spdlog::logger> log_;
    std::shared_ptr<const proxy::Runtime> runtime_;
    // What only a restart changes, as the server started: a reload names these when they differ.
    std::vector<config::Listener> started_listen_;
    std::optional<Endpoint> started_admin_;
    std::string started_access_log_;

    boost::asio::io_context main_io_{1};
    // Caught from start() on, before anyone is told we serve: a SIGHUP or SIGTERM sent right
    // after the "serving" line must reload or drain, not kill the process (their default
    // action). Until main_io_ runs, asio keeps them pending.
    std::optional<boost::asio::signal_set> signals_;
    std::unique_ptr<proxy::AccessLog> access_log_;
    // One limit for all workers (declared before them: they count in it until they end).
    std::unique_ptr<proxy::ConnectionLimit> limit_;
    std::vector<std::unique_ptr<proxy::Worker>> workers_;
    std::thread joiner_;  // started by the first SIGTERM/SIGINT: waits for the workers to drain
    std::optional<admin::AdminServer> console_;
    // What is watched (the files of the model in effect); a reload that names other files
    // watches those from then on.
    std::unique_ptr<FileWatch> watch_;
    std::vector<FileWatch::Target> watched_;
    boost::asio::steady_timer drain_deadline_{main_io_};
};

// Load, start and run a Server: the whole of `snibind serve`. Returns the process exit status:
// 0 after a clean drain, 1 when a listen address cannot be bound, 2 when the configuration is
// refused.
int serve(const ServeOptions& options);

}  // namespace snibind::server
