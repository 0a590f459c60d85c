#include "server/server.h"

#include <malloc.h>

#include <csignal>
#include <iostream>
#include <latch>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "check/check.h"
#include "net/accept_backoff.h"
#include "netsh/netsh_command.h"
#include "netsh/store_file.h"

namespace snibind::server {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

std::shared_ptr<spdlog::logger> make_logger() {
    auto logger = std::make_shared<spdlog::logger>(
        "snibind", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("snibind: %v");
    logger->flush_on(spdlog::level::info);
    // Under a name, for what logs from elsewhere (the accept back-off, net/accept_backoff.h).
    spdlog::drop(net::kServerLoggerName);
    spdlog::register_logger(logger);
    return logger;
}

// What the operator should know about a configuration just loaded: load problems, and what
// `snibind check` finds in the records themselves (missing or expired certificates, ...).
void warn_about(const model::Model& model, spdlog::logger& log) {
    for (const auto& w : model.warnings) log.warn("warning: {}", w);
    for (const auto& f : check::record_findings(model))
        if (f.severity != check::Severity::info)
            log.warn("{}: {} [{}] {}: {} (fix: {})", check::to_string(f.severity), f.kind, f.rule,
                     f.subject, f.message, f.fix);
}

}  // namespace

Server::Server(ServeOptions options) : options_(std::move(options)), log_(make_logger()) {}

Server::~Server() {
    for (auto& w : workers_) w->stop();
    if (joiner_.joinable()) joiner_.join();
    workers_.clear();  // before the access log and the limit they use
}

bool Server::load(std::string& error) {
    auto model = model::load_model(options_.config, error);
    if (!model) return false;
    warn_about(*model, *log_);
    runtime_ = proxy::make_runtime(std::move(model));
    started_listen_ = runtime_->config().listen;
    started_admin_ = runtime_->config().admin;
    started_access_log_ = runtime_->config().access_log;
    return true;
}

int Server::start() {
    const config::Config& config = runtime_->config();
    std::string error;
    access_log_ = proxy::AccessLog::open(config.access_log, error);
    if (!access_log_) {
        std::cerr << "snibind serve: " << error << "\n";
        return 2;
    }
    unsigned threads =
        options_.threads ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
    limit_ = std::make_unique<proxy::ConnectionLimit>(config.limits.max_connections);
    try {
        for (unsigned i = 0; i < threads; ++i) {
            workers_.push_back(std::make_unique<proxy::Worker>(*access_log_, runtime_, *limit_));
            workers_.back()->listen(i == 0);
        }
    } catch (const std::exception& e) {
        std::cerr << "snibind serve: " << e.what() << "\n";
        return 1;
    }
    signals_.emplace(main_io_, SIGHUP, SIGTERM, SIGINT);
    for (auto& w : workers_) w->start();
    watched_ = watch_targets(*runtime_->model);
    watch_files();
    start_console();

    // Every worker's loop made the same choice: the first one says it.
    if (!workers_.empty())
        log_->info("forward path: calls batched per event batch: {}",
                   workers_.front()->loop().batching());
    // "serving" is the readiness line (tests and scripts wait for it): it comes once every
    // listener, the admin console's included, accepts.
    std::vector<std::string> addresses;
    for (const auto& l : config.listen) addresses.push_back(l.endpoint.to_string());
    log_->info("serving {} on {} ({} threads, {} records, {} certificates, profile {}, {})",
               options_.config.string(), fmt::join(addresses, ", "), threads,
               model()->table.read().size(), model()->certificates.size(),
               to_string(config.selection.profile), to_string(config.selection.precedence));
    return 0;
}

int Server::run() {
    wait_signal();
    main_io_.run();
    if (joiner_.joinable()) joiner_.join();
    log_summary();
    return 0;
}

ReloadResult Server::reload(std::string_view why) {
    ReloadResult result;
    if (joiner_.joinable()) {
        // A drained worker's thread is gone: it would never take the new runtime.
        result.error = "draining";
        log_->warn("reload ({}) ignored: draining", why);
        return result;
    }
    auto next = model::load_model(options_.config, result.error);
    if (!next) {
        log_->error("reload ({}) refused, the running configuration stays: {}", why, result.error);
        return result;
    }
    warn_about(*next, *log_);
    // Every other setting takes effect below: the model (records, certificates, sites, limits
    // but max_connections, read per connection), the limit, the token, the watch.
    const auto& listen = next->config.listen;
    if (!std::equal(listen.begin(), listen.end(), started_listen_.begin(), started_listen_.end(),
                    [](const config::Listener& a, const config::Listener& b) {
                        return a.endpoint == b.endpoint && a.accept_proxy == b.accept_proxy &&
                               a.defer_accept == b.defer_accept;
                    }))
        result.needs_restart.push_back("listen");
    if (next->config.admin != started_admin_) result.needs_restart.push_back("admin");
    if (next->config.access_log != started_access_log_)
        result.needs_restart.push_back("access_log");
    // The model carries the table and the certificates together, so a worker that takes it
    // sees a record and its certificate at once. set_runtime() only posts to the worker: wait
    // until every worker has run it (a worker runs its posted handlers in order), so that a
    // connection accepted after the "reloaded" line is served by the new model.
    runtime_ = proxy::make_runtime(std::move(next));
    std::latch switched(static_cast<std::ptrdiff_t>(workers_.size()));
    for (auto& w : workers_) {
        w->set_runtime(runtime_);
        asio::post(w->io(), [&switched] { switched.count_down(); });
    }
    switched.wait();
    const config::Config& config = runtime_->config();
    if (limit_) limit_->max.store(config.limits.max_connections, std::memory_order_relaxed);
    if (console_) console_->set_token(config.admin_token);
    if (auto targets = watch_targets(*runtime_->model); watch_ && targets != watched_) {
        watched_ = std::move(targets);
        // The new watch is in place before the log says "reloaded"; the old one goes once
        // this handler, which may be its own, has returned.
        auto old = std::move(watch_);
        watch_files();
        asio::post(main_io_, [old = std::move(old)] {});
    }
    log_->info("reloaded ({}): {} records, {} certificates, {} sites{}", why,
               model()->table.read().size(), model()->certificates.size(), config.sites.size(),
               result.needs_restart.empty()
                   ? std::string()
                   : fmt::format("; needs a restart: {}", fmt::join(result.needs_restart, ", ")));
    result.applied = true;
    return result;
}

// What to watch: the store by name always; with --watch also the config, the certificate files
// and folders, the CCS folder and the IIS and URL reservation files (ConfigMaps, Secrets).
std::vector<FileWatch::Target> Server::watch_targets(const model::Model& model) const {
    const config::Config& config = model.config;
    std::vector<FileWatch::Target> targets;
    auto file = [&](const std::filesystem::path& p) {
        targets.push_back({p.parent_path(), p.filename().string()});
    };
    if (config.store) file(*config.store);
    if (!options_.watch) return targets;
    // Whole folders: Kubernetes replaces mounted files by swapping a "..data" symlink.
    targets.push_back({config.file.parent_path(), {}});
    for (const auto& c : config.certificates) {
        std::error_code ec;
        targets.push_back({std::filesystem::is_directory(c, ec) ? c : c.parent_path(), {}});
    }
    for (const auto& e : config.records)
        if (e.certificate) targets.push_back({e.certificate->parent_path(), {}});
    if (config.ccs_folder) targets.push_back({*config.ccs_folder, {}});
    if (config.iis_config) file(*config.iis_config);
    if (config.urlacl_store) file(*config.urlacl_store);
    return targets;
}

void Server::watch_files() {
    watch_ = std::make_unique<FileWatch>(main_io_, watched_, [this] {
        reload(options_.watch ? "files changed" : "store file changed");
    });
}

void Server::start_console() {
    const config::Config& config = runtime_->config();
    if (!config.admin) return;
    admin::AdminContext context;
    context.model = [this] { return model(); };
    context.collect_stats = [this](std::function<void(stats::Stats)> done) {
        collect_stats(std::move(done));
    };
    context.netsh = [this](const std::vector<std::string>& words) { return apply_netsh(words); };
    context.token = config.admin_token;
    context.warn = [this](std::string_view message) { log_->warn("{}", message); };
    try {
        console_.emplace(main_io_, *config.admin, std::move(context));
        log_->info("admin console on http://{}/", config.admin->to_string());
    } catch (const std::exception& e) {
        log_->warn("{}; serving without it", e.what());
    }
}

// Every worker's counters, merged, handed to `done` on the main thread. Each copy is made on
// its worker's own thread (a handler posted to it), so no counter is ever shared.
void Server::collect_stats(std::function<void(stats::Stats)> done) {
    struct Gather {
        stats::Stats total;
        std::size_t pending;
        std::function<void(stats::Stats)> done;
    };
    auto gather = std::make_shared<Gather>(Gather{{}, workers_.size(), std::move(done)});
    if (workers_.empty()) {
        gather->total.accept_fd_exhausted =
            net::accept_fd_exhausted_total.load(std::memory_order_relaxed);
        return gather->done(std::move(gather->total));
    }
    for (const auto& w : workers_) {
        proxy::Worker* worker = w.get();
        asio::post(worker->io(), [worker, gather, this] {
            asio::post(main_io_, [gather, copy = worker->stats_snapshot()] {
                gather->total.merge(copy);
                if (--gather->pending == 0) {
                    gather->total.accept_fd_exhausted =
                        net::accept_fd_exhausted_total.load(std::memory_order_relaxed);
                    gather->done(std::move(gather->total));
                }
            });
        });
    }
}

// The console's netsh endpoint: the command runs against the store file, which is saved
// atomically, then the server reloads at once (the file watch would too, a moment later).
std::pair<int, std::string> Server::apply_netsh(const std::vector<std::string>& words) {
    const config::Config& config = runtime_->config();
    if (!config.store)
        return {1,
                "this server has no store file (store: in the config): netsh has nothing to "
                "change\n"};
    // The same lock as `snibind netsh`: an edit from the CLI at the same time is never lost.
    std::string lock_error;
    auto lock = netsh::EditLock::acquire(*config.store, lock_error);
    if (!lock) return {1, lock_error + "\n"};
    netsh::ImportError import_error;
    auto store = netsh::Store::load(*config.store, netsh::MissingFile::empty, import_error);
    if (!store) return {1, import_error.message() + "\n"};
    bool modified = false;
    auto result = netsh::run_netsh(words, *store, config.selection.profile, modified);
    if (modified) {
        std::string error;
        if (!store->save(*config.store, error)) return {1, error + "\n"};
        reload("admin console netsh");
    }
    return {result.exit_code, result.out + result.err};
}

void Server::wait_signal() {
    signals_->async_wait([this](const error_code& ec, int signal) {
        if (ec) return;
        if (signal == SIGHUP)
            reload("SIGHUP");
        else
            drain(signal);
        wait_signal();
    });
}

// The first SIGTERM/SIGINT: stop accepting, let open connections finish for up to
// limits.drain_timeout, then stop main_io_ once every worker's thread has ended. A second
// signal closes what is left at once.
void Server::drain(int signal) {
    if (joiner_.joinable()) {
        for (auto& w : workers_) w->stop();
        return;
    }
    const auto timeout = runtime_->config().limits.drain_timeout;
    log_->info("{}: no new connections; draining for up to {} ms",
               signal == SIGTERM ? "SIGTERM" : "SIGINT", timeout.count());
    for (auto& w : workers_) w->drain();
    drain_deadline_.expires_after(timeout);
    drain_deadline_.async_wait([this](const error_code& ec) {
        if (ec) return;
        log_->warn("drain timeout: closing the remaining connections");
        for (auto& w : workers_) w->stop();
    });
    joiner_ = std::thread([this] {
        for (auto& w : workers_) w->join();
        asio::post(main_io_, [this] { main_io_.stop(); });
    });
}

void Server::log_summary() {
    stats::Stats total;
    for (auto& w : workers_) total.merge(w->stats());  // their threads have ended
    workers_.clear();
    using stats::ConnectionAction;
    using stats::SummaryGroup;
    log_->info(
        "stopped: accepted={} forwarded={} terminated={} rejected={} failed={} hello_errors={} "
        "hello_timeouts={} client_errors={} refused={} handshakes={} requests={}",
        total.accepted, total.count(ConnectionAction::forward),
        total.count(ConnectionAction::terminate), total.count(ConnectionAction::reject),
        total.decisions_by_outcome[static_cast<std::size_t>(Outcome::failed)] +
            total.count(SummaryGroup::failed),
        total.count(SummaryGroup::hello_error),
        // A client that errs or goes away without close_notify, before or after its hello.
        total.count(SummaryGroup::hello_timeout), total.count(SummaryGroup::client_error),
        total.refused, total.handshakes, total.requests);
}

int serve(const ServeOptions& options) {
    // Every TLS connection allocates and frees some 150 KB (OpenSSL's record buffers, Asio's BIO
    // pair and engine buffers, the session object). With glibc's defaults the worker threads'
    // heaps shrink back with madvise after each wave and fault the pages in again on the next:
    // a few percent of a handshake. Keeping up to 64 MiB of free heap stops that churn.
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    Server server(options);
    std::string error;
    if (!server.load(error)) {
        std::cerr << "snibind serve: " << error << "\n";
        return 2;
    }
    if (options.check_only) {
        auto model = server.model();
        std::cout << fmt::format("{}: OK: {} records, {} certificates, {} sites\n",
                                 options.config.string(), model->table.read().size(),
                                 model->certificates.size(), model->config.sites.size());
        return 0;
    }
    if (int status = server.start(); status != 0) return status;
    return server.run();
}

}  // namespace snibind::server
