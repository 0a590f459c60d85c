// snibind load: the load generator (issue 4).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/setting_options.h"
#include "load/expectations.h"
#include "load/hello_template.h"
#include "load/load_options.h"
#include "load/load_workers.h"
#include "load/worker_plan.h"
#include "report/json_output.h"

namespace snibind::cli {

namespace {

struct LoadArguments {
    std::string target, mode = "handshake", duration, rate, warmup, timeout = "10s", names_file,
                        zipf, no_sni, hello_template = "chromium", dst, path = "/", expect,
                        tls = "any";
    SelectionSettings selection;  // --profile, --precedence
    std::vector<std::string> names;
    std::size_t concurrency = 1, split_records = 1, split_writes = 1, keepalive = 1;
    std::uint64_t connections = 0;  // 0: not given
    unsigned threads = 1;
    unsigned workers = 0;  // 0: not given
    std::string worker;    // hidden: "I/N" in a worker process
    std::uint64_t seed = 1;
    pid_t server_pid = 0;  // 0: not given
    bool one_byte_writes = false, json = false, hold = false, resume = false;
};

// Turns the arguments into LoadOptions; on a bad value returns nullopt with the message.
std::optional<load::LoadOptions> to_options(const LoadArguments& a, std::string& error) {
    load::LoadOptions o;
    auto target = Endpoint::parse(a.target);
    if (!target) {
        error = "--target '" + a.target + "' is not ADDR:PORT (IPv6 as [::1]:443)";
        return std::nullopt;
    }
    o.target = *target;
    o.mode = *load::parse_mode(a.mode);
    if (!a.dst.empty()) {
        auto list = load::parse_address_list(a.dst);
        if (!list) {
            error = "--dst '" + a.dst + "' is not a list of IP addresses";
            return std::nullopt;
        }
        o.destinations = *list;
    }
    o.concurrency = a.concurrency;
    o.threads = a.threads;
    if (a.connections > 0) o.connections = a.connections;
    const auto duration_option = [&](const std::string& text,
                                     const char* flag) -> std::optional<std::chrono::nanoseconds> {
        auto d = load::parse_duration(text);
        if (!d) error = std::string(flag) + " '" + text + "' is not a duration (10s, 500ms, 2m)";
        return d;
    };
    if (!a.duration.empty() && !(o.duration = duration_option(a.duration, "--duration")))
        return std::nullopt;
    if (!a.warmup.empty()) {
        auto w = duration_option(a.warmup, "--warmup");
        if (!w) return std::nullopt;
        o.warmup = *w;
    }
    auto timeout = duration_option(a.timeout, "--timeout");
    if (!timeout || timeout->count() <= 0) {
        if (timeout) error = "--timeout must be positive";
        return std::nullopt;
    }
    o.timeout = *timeout;
    if (!a.rate.empty()) {
        auto r = load::parse_rate(a.rate);
        if (!r || *r <= 0) {
            error = "--rate '" + a.rate + "' is not a positive rate (1000/s, 60/m)";
            return std::nullopt;
        }
        o.rate = *r;
    }
    if (!a.zipf.empty()) {
        char* end = nullptr;
        o.zipf = std::strtod(a.zipf.c_str(), &end);
        if (end == a.zipf.c_str() || *end != '\0' || !(o.zipf > 0) || o.zipf > 10) {
            error = "--zipf '" + a.zipf + "' is not an exponent in (0, 10]";
            return std::nullopt;
        }
    }
    if (!a.no_sni.empty()) {
        auto p = load::parse_percent(a.no_sni);
        if (!p) {
            error = "--no-sni '" + a.no_sni + "' is not a percentage (5%)";
            return std::nullopt;
        }
        o.no_sni = *p;
    }
    o.names = a.names;
    if (!a.names_file.empty()) {
        std::ifstream in(a.names_file, std::ios::binary);
        if (!in) {
            error = "cannot read --names " + a.names_file;
            return std::nullopt;
        }
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        for (auto& n : load::parse_names(text)) o.names.push_back(std::move(n));
    }
    o.seed = a.seed;
    o.hello_template = a.hello_template;
    o.split_records = a.split_records;
    o.split_writes = a.split_writes;
    o.one_byte_writes = a.one_byte_writes;
    o.tls_version = a.tls == "1.2"   ? load::TlsVersion::tls12
                    : a.tls == "1.3" ? load::TlsVersion::tls13
                                     : load::TlsVersion::any;
    o.keepalive = a.keepalive;
    if (a.resume && o.mode != load::Mode::request) {
        error = "--resume is for request mode (--mode resume resumes without requests)";
        return std::nullopt;
    }
    o.resume = a.resume;
    o.path = a.path;
    o.expect_store = a.expect;
    o.selection = a.selection;
    if (a.server_pid > 0) o.server_pid = a.server_pid;
    o.hold = a.hold;
    if (o.hold && !o.duration) {
        error = "--hold needs --duration: held connections are closed when it ends";
        return std::nullopt;
    }
    o.progress = !a.json && isatty(STDERR_FILENO) == 1;
    return o;
}

// The hidden --worker "I/N": this process is worker I of N.
std::optional<std::pair<unsigned, unsigned>> parse_worker(const std::string& text) {
    unsigned index = 0, count = 0;
    char slash = 0, extra = 0;
    if (std::sscanf(text.c_str(), "%u%c%u%c", &index, &slash, &count, &extra) != 3 ||
        slash != '/' || count == 0 || index >= count)
        return std::nullopt;
    return std::pair{index, count};
}

// This process's command line, to start the workers with: /proc/self/cmdline holds it exactly
// as given, so a worker parses the same options the parent did.
std::vector<std::string> own_command_line() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> argv;
    for (std::size_t at = 0; at < text.size();) {
        const auto end = text.find('\0', at);
        argv.push_back(text.substr(at, end - at));
        if (end == std::string::npos) break;
        at = end + 1;
    }
    return argv;
}

}  // namespace

void add_load_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand(
        "load",
        "Load-test any TLS server or SNI proxy (snibind, HAProxy, nginx, ...) and report\n"
        "connections per second, latency percentiles, errors by kind, the certificate served\n"
        "per name, its own CPU per connection and, with --server-pid, the server's.\n"
        "The load runs in --workers processes (default: one per core it may run on), which\n"
        "share no OpenSSL locks; one report adds them up exactly. With --rate, latency\n"
        "counts from each connection's intended start (coordinated omission corrected).\n"
        "Ctrl-C or SIGTERM ends the run early and reports it; a worker that dies is named,\n"
        "its counts are marked missing, and the exit status is 1.\n"
        "Modes: hello (send a real captured ClientHello, wait for the first byte back or the\n"
        "close: no crypto on this side, for forwarding proxies), handshake (full TLS handshake\n"
        "with OpenSSL, then close), resume (TLS 1.3 ticket or TLS 1.2 session id per name),\n"
        "request (handshake, then --keepalive HTTP/1.1 GET requests).\n"
        "--hold keeps each connection open and idle after that, until the run ends, so\n"
        "-c 10000 --hold --server-pid PID measures the server's memory per idle connection.\n"
        "--template and the --split options apply to hello mode only: the TLS modes send\n"
        "OpenSSL's own ClientHello.");
    auto a = std::make_shared<LoadArguments>();
    cmd->add_option("--target", a->target, "ADDR:PORT to connect to (the port for all --dst)")
        ->required();
    cmd->add_option("--mode", a->mode, "hello | handshake (default) | resume | request")
        ->check(CLI::IsMember({"hello", "handshake", "resume", "request"}));
    cmd->add_option("--concurrency,-c", a->concurrency, "connections in flight (default 1)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
    auto* duration = cmd->add_option("--duration,-d", a->duration,
                                     "measure for this long (10s, 2m); or give --connections");
    auto* connections = cmd->add_option("--connections,-n", a->connections,
                                        "measure this many connections; or give --duration")
                            ->check(CLI::Range(std::uint64_t{1}, UINT64_MAX));
    duration->excludes(connections);
    cmd->add_option("--rate", a->rate, "at most this many connection starts (1000/s, 60/m)");
    cmd->add_option("--warmup", a->warmup, "run this long first without counting (2s)");
    cmd->add_option("--timeout", a->timeout, "give up on a connection after this (default 10s)");
    auto* threads =
        cmd->add_option("--threads,-t", a->threads,
                        "threads in each worker process, one event loop each (default 1)")
            ->check(CLI::Range(1u, 1024u));
    cmd->add_option("--workers,-w", a->workers,
                    "worker processes (default: one per core this process may run on, or 1\n"
                    "when --threads is given): processes share no OpenSSL locks")
        ->check(CLI::Range(1u, 1024u));
    cmd->add_option("--worker", a->worker, "internal: this process is worker I/N")->group("");
    cmd->add_option("--names", a->names_file, "file of server names, one a line")
        ->check(CLI::ExistingFile);
    cmd->add_option("--name", a->names, "a server name (repeatable)")->allow_extra_args(false);
    cmd->add_option("--zipf", a->zipf,
                    "draw names by Zipf's law with this exponent (1.1); default uniform");
    cmd->add_option("--no-sni", a->no_sni, "share of connections sent without SNI (5%)");
    cmd->add_option("--seed", a->seed, "seed for drawing names (default 1)");
    cmd->add_option("--template", a->hello_template,
                    "hello mode: chromium (default), curl or openssl, a real capture")
        ->check(CLI::IsMember({"chromium", "curl", "openssl"}));
    cmd->add_option("--split-records", a->split_records,
                    "hello mode: send the hello in K TLS records")
        ->check(CLI::Range(std::size_t{1}, std::size_t{65536}));
    cmd->add_option("--split-writes", a->split_writes, "hello mode: send the hello in K writes")
        ->check(CLI::Range(std::size_t{1}, std::size_t{65536}));
    cmd->add_flag("--one-byte-writes", a->one_byte_writes, "hello mode: one byte per write");
    cmd->add_option("--dst", a->dst,
                    "spread connections over these local addresses (127.0.0.1,127.0.0.2)");
    cmd->add_option("--tls", a->tls, "TLS modes: 1.2, 1.3 or any (default)")
        ->check(CLI::IsMember({"1.2", "1.3", "any"}));
    cmd->add_option("--keepalive", a->keepalive, "request mode: requests per connection (1)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
    cmd->add_option("--path", a->path, "request mode: the path requested (default /)");
    cmd->add_flag("--resume", a->resume,
                  "request mode: resume each name's last session before the requests");
    cmd->add_option("--expect", a->expect,
                    "a store ('netsh http show sslcert' text): count a certificate other than\n"
                    "the one its selection predicts as an error 'unexpected certificate'")
        ->check(CLI::ExistingFile);
    add_setting_option(cmd, "--profile", a->selection.profile, kProfileNames,
                       "--expect: Windows profile (default windows-2022)");
    add_setting_option(cmd, "--precedence", a->selection.precedence, kPrecedenceNames,
                       "--expect: L1/L2 (default sni-first)");
    cmd->add_flag("--hold", a->hold,
                  "keep each connection open and idle once its hello is sent (hello mode) or\n"
                  "its handshake and requests are done, until --duration ends");
    cmd->add_option("--server-pid", a->server_pid,
                    "report this process's CPU time per connection (user + system, all its\n"
                    "threads and descendant processes, as nginx's workers) and its memory (RSS)\n"
                    "at the start and the end (per held connection with --hold)")
        ->check(CLI::Range(1, INT32_MAX));
    cmd->add_flag("--json", a->json, "print one JSON object with every number");

    cmd->callback([a, duration, connections, threads, &exit_code] {
        if (duration->count() == 0 && connections->count() == 0) {
            std::cerr << "snibind load: give --duration or --connections\n";
            exit_code = 2;
            return;
        }
        std::string error;
        auto options = to_options(*a, error);
        if (!options) {
            std::cerr << "snibind load: " << error << "\n";
            exit_code = 2;
            return;
        }
        std::optional<load::ExpectationTable> expect;
        if (!options->expect_store.empty()) {
            expect = load::ExpectationTable::load(options->expect_store, options->selection,
                                                  options->destination_addresses(),
                                                  options->target.port, options->names, error);
            if (!expect) {
                std::cerr << "snibind load: --expect: " << error << "\n";
                exit_code = 2;
                return;
            }
        }
        // OpenSSL writes to the socket itself; a server that resets must not kill us.
        std::signal(SIGPIPE, SIG_IGN);
        if (!a->worker.empty()) {
            auto worker = parse_worker(a->worker);
            if (!worker) {
                std::cerr << "snibind load: --worker '" << a->worker << "' is not I/N\n";
                exit_code = 2;
                return;
            }
            exit_code = load::run_worker_process(
                load::worker_options(*options, worker->first, worker->second),
                expect ? &*expect : nullptr);
            return;
        }
        const unsigned wanted =
            a->workers ? a->workers
                       : load::default_workers(load::available_cores(), threads->count() > 0);
        options->workers = load::effective_workers(wanted, *options);
        const std::vector<std::string> argv = own_command_line();
        auto report = load::run_workers(
            *options,
            [&argv](unsigned index, unsigned count) {
                std::vector<std::string> command = argv;
                command.push_back("--worker");
                command.push_back(std::to_string(index) + "/" + std::to_string(count));
                return command;
            },
            error);
        if (!report) {
            std::cerr << "snibind load: " << error << "\n";
            exit_code = 1;
            return;
        }
        if (a->json)
            std::cout << snibind::report::json_text(load::report_json(*report)) << "\n";
        else
            std::cout << load::report_text(*report);
        // A worker that died or failed: the totals lack its counts (the report says whose).
        exit_code = report->complete() ? 0 : 1;
    });
}

}  // namespace snibind::cli
