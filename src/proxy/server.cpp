#include "proxy/server.h"

#include <malloc.h>
#include <sys/inotify.h>

#include <array>
#include <csignal>
#include <iostream>
#include <latch>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "admin/admin_server.h"
#include "check/check.h"
#include "netsh/netsh_command.h"
#include "netsh/store_file.h"
#include "proxy/accept_backoff.h"
#include "proxy/worker.h"

namespace snibind::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

std::shared_ptr<spdlog::logger> make_logger() {
    auto logger = std::make_shared<spdlog::logger>(
        "snibind", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("snibind: %v");
    logger->flush_on(spdlog::level::info);
    // Under a name, for what logs from elsewhere (the accept back-off, proxy/accept_backoff.h).
    spdlog::drop(kServerLoggerName);
    spdlog::register_logger(logger);
    return logger;
}

// What the operator should know about a configuration just loaded: load problems, and what
// `snibind check` finds in the records themselves (missing or expired certificates, ...).
void warn_about(const Runtime& rt, spdlog::logger& log) {
    for (const auto& w : rt.warnings) log.warn("warning: {}", w);
    for (const auto& f : check::record_findings(rt))
        if (f.severity != check::Severity::info)
            log.warn("{}: {} [{}] {}: {} (fix: {})", check::to_string(f.severity), f.kind, f.rule,
                     f.subject, f.message, f.fix);
}

std::shared_ptr<Runtime> load(const std::filesystem::path& file, std::string& error) {
    config::ConfigError config_error;
    auto config = config::load_config(file, config_error);
    if (!config) {
        error = config_error.message();
        return nullptr;
    }
    return load_runtime(*config, error);
}

// Watches files and folders with inotify and reports changes, debounced (an editor or
// Kubernetes' symlink swap makes several events for one change). The store is watched by name:
// snibind netsh saves it by writing a temporary file and renaming it over the old one.
class FileWatch {
  public:
    struct Target {
        std::filesystem::path dir;
        std::string name;  // empty: any change in the folder
        friend bool operator==(const Target&, const Target&) = default;
    };

    FileWatch(asio::io_context& io, std::vector<Target> targets, std::function<void()> changed)
        : stream_(io), debounce_(io), changed_(std::move(changed)) {
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0) return;
        stream_.assign(fd);
        for (auto& t : targets) {
            if (t.dir.empty()) t.dir = ".";
            int wd = inotify_add_watch(fd, t.dir.c_str(),
                                       IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE);
            if (wd >= 0) watches_.emplace_back(wd, std::move(t.name));
        }
        read();
    }

  private:
    bool interesting(const inotify_event& e) const {
        for (const auto& [wd, name] : watches_)
            if (wd == e.wd && (name.empty() || (e.len && name == e.name))) return true;
        return false;
    }
    void read() {
        stream_.async_read_some(asio::buffer(buffer_), [this](const error_code& ec, std::size_t n) {
            if (ec) return;
            bool changed = false;
            for (std::size_t i = 0; i + sizeof(inotify_event) <= n;) {
                auto* event = reinterpret_cast<const inotify_event*>(buffer_.data() + i);
                changed = changed || interesting(*event);
                i += sizeof(inotify_event) + event->len;
            }
            if (changed) {
                debounce_.expires_after(std::chrono::milliseconds(100));
                debounce_.async_wait([this](const error_code& ec) {
                    if (!ec) changed_();
                });
            }
            read();
        });
    }
    asio::posix::stream_descriptor stream_;
    asio::steady_timer debounce_;
    std::function<void()> changed_;
    std::vector<std::pair<int, std::string>> watches_;
    alignas(inotify_event) std::array<char, 4096> buffer_{};
};

// What to watch: the store by name always; with --watch also the config, the certificate files
// and folders, the CCS folder and the IIS and URL reservation files (ConfigMaps, Secrets).
std::vector<FileWatch::Target> watch_targets(const Runtime& rt, bool everything) {
    std::vector<FileWatch::Target> targets;
    auto file = [&](const std::filesystem::path& p) {
        targets.push_back({p.parent_path(), p.filename().string()});
    };
    if (rt.config.store) file(*rt.config.store);
    if (!everything) return targets;
    // Whole folders: Kubernetes replaces mounted files by swapping a "..data" symlink.
    targets.push_back({rt.config.file.parent_path(), {}});
    for (const auto& c : rt.config.certificates) {
        std::error_code ec;
        targets.push_back({std::filesystem::is_directory(c, ec) ? c : c.parent_path(), {}});
    }
    for (const auto& e : rt.config.records)
        if (e.certificate) targets.push_back({e.certificate->parent_path(), {}});
    if (rt.config.ccs_folder) targets.push_back({*rt.config.ccs_folder, {}});
    if (rt.config.iis_config) file(*rt.config.iis_config);
    if (rt.config.urlacl_store) file(*rt.config.urlacl_store);
    return targets;
}

// Every worker's counters, merged, handed to `done` on the main thread. Each copy is made on
// its worker's own thread (a handler posted to it), so no counter is ever shared.
void collect_stats(asio::io_context& main_io, const std::vector<std::unique_ptr<Worker>>& workers,
                   std::function<void(admin::Stats)> done) {
    struct Gather {
        admin::Stats total;
        std::size_t pending;
        std::function<void(admin::Stats)> done;
    };
    auto gather = std::make_shared<Gather>(Gather{{}, workers.size(), std::move(done)});
    if (workers.empty()) {
        gather->total.accept_fd_exhausted =
            accept_fd_exhausted_total.load(std::memory_order_relaxed);
        return gather->done(std::move(gather->total));
    }
    for (const auto& w : workers) {
        Worker* worker = w.get();
        asio::post(worker->io(), [worker, gather, &main_io] {
            asio::post(main_io, [gather, copy = worker->stats_snapshot()] {
                gather->total.merge(copy);
                if (--gather->pending == 0) {
                    gather->total.accept_fd_exhausted =
                        accept_fd_exhausted_total.load(std::memory_order_relaxed);
                    gather->done(std::move(gather->total));
                }
            });
        });
    }
}

// The console's netsh endpoint: the command runs against the store file, which is saved
// atomically, then the server reloads at once (the file watch would too, a moment later).
std::pair<int, std::string> apply_netsh(const Runtime& rt, const std::vector<std::string>& words,
                                        const std::function<void()>& reload) {
    if (!rt.config.store)
        return {1,
                "this server has no store file (store: in the config): netsh has nothing to "
                "change\n"};
    // The same lock as `snibind netsh`: an edit from the CLI at the same time is never lost.
    std::string lock_error;
    auto lock = netsh::EditLock::acquire(*rt.config.store, lock_error);
    if (!lock) return {1, lock_error + "\n"};
    netsh::ImportError import_error;
    auto store = netsh::Store::load(*rt.config.store, netsh::MissingFile::empty, import_error);
    if (!store) return {1, import_error.message() + "\n"};
    bool modified = false;
    auto result = netsh::run_netsh(words, *store, rt.config.selection.profile, modified);
    if (modified) {
        std::string error;
        if (!store->save(*rt.config.store, error)) return {1, error + "\n"};
        reload();
    }
    return {result.exit_code, result.out + result.err};
}

}  // namespace

int serve(const ServeOptions& options) {
    // Every TLS connection allocates and frees some 150 KB (OpenSSL's record buffers, Asio's BIO
    // pair and engine buffers, the session object). With glibc's defaults the worker threads'
    // heaps shrink back with madvise after each wave and fault the pages in again on the next:
    // a few percent of a handshake. Keeping up to 64 MiB of free heap stops that churn.
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    auto log = make_logger();
    std::string error;
    auto runtime = load(options.config, error);
    if (!runtime) {
        std::cerr << "snibind serve: " << error << "\n";
        return 2;
    }
    warn_about(*runtime, *log);
    if (options.check_only) {
        std::cout << fmt::format("{}: OK: {} records, {} certificates, {} sites\n",
                                 options.config.string(), runtime->records.size(),
                                 runtime->certificates.size(), runtime->config.sites.size());
        return 0;
    }
    auto access_log = AccessLog::open(runtime->config.access_log, error);
    if (!access_log) {
        std::cerr << "snibind serve: " << error << "\n";
        return 2;
    }

    // The table takes the records over: with a million of them a second copy would cost
    // hundreds of megabytes and seconds of start-up, and after this only the table is read.
    BindingTable table(std::move(runtime->records));
    unsigned threads =
        options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    // One limit for all workers (declared before them: they count in it until they end).
    ConnectionLimit limit(runtime->config.limits.max_connections);
    std::vector<std::unique_ptr<Worker>> workers;
    try {
        for (unsigned i = 0; i < threads; ++i) {
            workers.push_back(std::make_unique<Worker>(table, *access_log, runtime, limit));
            workers.back()->listen(i == 0);
        }
    } catch (const std::exception& e) {
        std::cerr << "snibind serve: " << e.what() << "\n";
        return 1;
    }
    // Signals are caught from here on, before anyone is told we serve: a SIGHUP or SIGTERM sent
    // right after the "serving" line must reload or drain, not kill the process (their default
    // action). Until main_io runs, asio keeps them pending.
    asio::io_context main_io(1);
    asio::signal_set signals(main_io, SIGHUP, SIGTERM, SIGINT);
    for (auto& w : workers) w->start();


    std::thread joiner;  // started by the first SIGTERM/SIGINT: waits for the workers to drain
    // Declared before reload, which hands it a new token; created once the workers run.
    std::optional<admin::AdminServer> console;
    // What is watched (the files of the runtime in effect); a reload that names other files
    // watches those from then on.
    std::unique_ptr<FileWatch> watch;
    std::vector<FileWatch::Target> watched = watch_targets(*runtime, options.watch);
    std::function<void()> files_changed;
    // What only a restart changes, as the server started: a reload names these when they differ.
    const std::vector<config::Listener> started_listen = runtime->config.listen;
    const std::optional<Endpoint> started_admin = runtime->config.admin;
    const std::string started_access_log = runtime->config.access_log;
    auto reload = [&](std::string_view why) {
        if (joiner.joinable()) {
            // A drained worker's thread is gone: it would never take the new runtime.
            log->warn("reload ({}) ignored: draining", why);
            return;
        }
        std::string err;
        auto next = load(options.config, err);
        if (!next) {
            log->error("reload ({}) refused, the running configuration stays: {}", why, err);
            return;
        }
        warn_about(*next, *log);
        std::vector<Record> records = std::move(next->records);  // for the table, as at start
        // Every other setting takes effect below: the runtime (records, certificates, sites,
        // limits but max_connections, read per connection), the limit, the token, the watch.
        std::vector<std::string_view> needs_restart;
        const auto& listen = next->config.listen;
        if (!std::equal(listen.begin(), listen.end(), started_listen.begin(), started_listen.end(),
                        [](const config::Listener& a, const config::Listener& b) {
                            return a.endpoint == b.endpoint && a.accept_proxy == b.accept_proxy;
                        }))
            needs_restart.push_back("listen");
        if (next->config.admin != started_admin) needs_restart.push_back("admin");
        if (next->config.access_log != started_access_log) needs_restart.push_back("access_log");
        // New runtime first, then the table: a record never names a certificate the worker
        // does not have yet. set_runtime() only posts to the worker, so wait until every worker
        // has run it (a worker runs its posted handlers in order) before the table changes.
        std::latch switched(static_cast<std::ptrdiff_t>(workers.size()));
        for (auto& w : workers) {
            w->set_runtime(next);
            asio::post(w->io(), [&switched] { switched.count_down(); });
        }
        switched.wait();
        table.assign(std::move(records));
        runtime = next;
        limit.max.store(runtime->config.limits.max_connections, std::memory_order_relaxed);
        if (console) console->set_token(runtime->config.admin_token);
        if (auto targets = watch_targets(*runtime, options.watch); targets != watched) {
            watched = std::move(targets);
            // The new watch is in place before the log says "reloaded"; the old one goes once
            // this handler, which may be its own, has returned.
            auto old =
                std::exchange(watch, std::make_unique<FileWatch>(main_io, watched, files_changed));
            asio::post(main_io, [old = std::move(old)] {});
        }
        log->info("reloaded ({}): {} records, {} certificates, {} sites{}", why,
                  table.read().size(), runtime->certificates.size(), runtime->config.sites.size(),
                  needs_restart.empty()
                      ? std::string()
                      : fmt::format("; needs a restart: {}", fmt::join(needs_restart, ", ")));
    };

    files_changed = [&] { reload(options.watch ? "files changed" : "store file changed"); };
    watch = std::make_unique<FileWatch>(main_io, watched, files_changed);

    if (runtime->config.admin) {
        admin::AdminContext context;
        context.table = &table;
        context.runtime = [&] { return runtime; };
        context.collect_stats = [&](std::function<void(admin::Stats)> done) {
            collect_stats(main_io, workers, std::move(done));
        };
        context.netsh = [&](const std::vector<std::string>& words) {
            return apply_netsh(*runtime, words, [&] { reload("admin console netsh"); });
        };
        context.token = runtime->config.admin_token;
        context.warn = [&](std::string_view message) { log->warn("{}", message); };
        try {
            console.emplace(main_io, *runtime->config.admin, std::move(context));
            log->info("admin console on http://{}/", runtime->config.admin->to_string());
        } catch (const std::exception& e) {
            log->warn("{}; serving without it", e.what());
        }
    }

    // "serving" is the readiness line (tests and scripts wait for it): it comes once every
    // listener, the admin console's included, accepts.
    std::vector<std::string> addresses;
    for (const auto& l : runtime->config.listen) addresses.push_back(l.endpoint.to_string());
    log->info("serving {} on {} ({} threads, {} records, {} certificates, profile {}, {})",
              options.config.string(), fmt::join(addresses, ", "), threads, table.read().size(),
              runtime->certificates.size(), to_string(runtime->config.selection.profile),
              to_string(runtime->config.selection.precedence));

    asio::steady_timer drain_deadline(main_io);
    std::function<void()> wait_signal = [&] {
        signals.async_wait([&](const error_code& ec, int signal) {
            if (ec) return;
            if (signal == SIGHUP) {
                reload("SIGHUP");
                wait_signal();
                return;
            }
            if (joiner.joinable()) {  // a second signal: stop now
                for (auto& w : workers) w->stop();
                return;
            }
            log->info("{}: no new connections; draining for up to {} ms",
                      signal == SIGTERM ? "SIGTERM" : "SIGINT",
                      runtime->config.limits.drain_timeout.count());
            for (auto& w : workers) w->drain();
            drain_deadline.expires_after(runtime->config.limits.drain_timeout);
            drain_deadline.async_wait([&](const error_code& ec) {
                if (ec) return;
                log->warn("drain timeout: closing the remaining connections");
                for (auto& w : workers) w->stop();
            });
            joiner = std::thread([&] {
                for (auto& w : workers) w->join();
                asio::post(main_io, [&] { main_io.stop(); });
            });
            wait_signal();
        });
    };
    wait_signal();
    main_io.run();
    if (joiner.joinable()) joiner.join();

    admin::Stats total;
    for (auto& w : workers) total.merge(w->stats());  // their threads have ended
    workers.clear();
    // How many connections ended with any of `keys` (a result or an action).
    auto count = [](const auto& counts, std::initializer_list<std::string_view> keys) {
        std::uint64_t n = 0;
        for (auto k : keys)
            if (auto it = counts.find(k); it != counts.end()) n += it->second;
        return n;
    };
    log->info(
        "stopped: accepted={} forwarded={} terminated={} rejected={} failed={} hello_errors={} "
        "hello_timeouts={} client_errors={} refused={} handshakes={} requests={}",
        total.accepted, count(total.actions, {"forward"}), count(total.actions, {"terminate"}),
        count(total.actions, {"reject"}),
        total.decisions_by_outcome[static_cast<std::size_t>(Outcome::failed)] +
            count(total.results, {"version_refused", "no_certificate"}),
        count(total.results, {"not_tls", "malformed", "incomplete", "too_large", "hello_too_large",
                              "bad_proxy_header"}),
        // A client that errs or goes away without close_notify, before or after its hello.
        count(total.results, {"hello_timeout"}), count(total.results, {"client_error"}),
        total.refused, total.handshakes, total.requests);
    return 0;
}

}  // namespace snibind::proxy
