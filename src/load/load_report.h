#pragma once
// The numbers of one `snibind load` run, and their renderings: a table for people, one JSON
// object for machines.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "load/histogram.h"
#include "load/load_options.h"

namespace snibind::load {

// The key under which connections without SNI are reported per name.
inline constexpr std::string_view kNoSniName = "(no sni)";

struct ServerUsage {
    pid_t pid = 0;
    std::chrono::nanoseconds used{0};  // CPU during the measured interval, pid and descendants
    // Resident memory when the run started and when it ended, before held connections closed.
    std::optional<std::uint64_t> rss_before, rss_end;
    std::size_t processes = 1;  // pid and its descendants, at the end
};

// What one worker process did. The parent's report lists every worker; the totals are the exact
// sum of the workers marked `counted`.
struct WorkerResult {
    unsigned index = 0;
    pid_t pid = 0;
    // "ok", "died: signal 9 (SIGKILL)", "exit status 1", "exit status 1 after its report", ...
    std::string status = "ok";
    bool counted = false;  // its report arrived and is in the totals
    std::size_t concurrency = 0;
    std::optional<std::uint64_t> connections_share;  // its part of --connections
    // Counted: from its report. Not counted: from the last progress it sent (connections and
    // errors only), which is all there is of a worker that died.
    std::uint64_t connections = 0, completed = 0, errors = 0, handshakes = 0, requests = 0;
    std::uint64_t held = 0;
    double seconds = 0;
    std::chrono::nanoseconds cpu{0};  // its CPU during the measured interval
    LatencyHistogram connect_latency;
    bool ok() const { return counted && status == "ok"; }
};

struct LoadReport {
    Mode mode = Mode::handshake;
    std::string target;
    unsigned workers = 1;  // processes
    unsigned threads = 1;  // event loops in each
    std::size_t concurrency = 1;
    double seconds = 0;  // the measured interval

    std::uint64_t connections = 0;  // measured connections, completed + errors
    std::uint64_t completed = 0;    // without any error
    std::uint64_t errors = 0;
    std::map<std::string, std::uint64_t> errors_by_kind;  // "reset", "tls alert: ...", ...

    // hello: connections the server answered, and those it closed without a byte.
    std::uint64_t replied = 0, closed_without_reply = 0;
    // TLS modes.
    std::uint64_t handshakes = 0, resumed = 0;
    std::map<std::string, std::map<std::string, std::uint64_t>> certificates;  // name → hex → n
    // request mode.
    std::uint64_t requests = 0;
    std::map<int, std::uint64_t> http_status;

    // Connect until the first byte back (hello) or the end of the handshake (TLS modes); with
    // --rate, from the time the connection was due to start (coordinated omission).
    LatencyHistogram connect_latency;
    bool latency_from_intended_start = false;
    // request mode: request sent until response complete.
    LatencyHistogram request_latency;

    bool expect = false;
    std::uint64_t expect_checked = 0, expect_mismatches = 0;

    // --hold: connections open when the run ended.
    bool hold = false;
    std::uint64_t held = 0;

    std::optional<ServerUsage> server;

    // The load generator's own CPU (user + system of every worker, and of the parent) during
    // the measured interval, the figure to set against the server's; and over the whole run,
    // start-up and teardown included (getrusage of the parent and its waited-for workers).
    std::chrono::nanoseconds load_cpu{0};
    std::optional<std::chrono::nanoseconds> load_cpu_whole_run;

    // Ctrl-C or SIGTERM ended the run before --duration or --connections did.
    bool stopped_early = false;
    std::vector<WorkerResult> per_worker;
    // Every worker reported and exited cleanly: the totals are the whole run.
    bool complete() const;

    double per_second(std::uint64_t n) const { return seconds > 0 ? n / seconds : 0.0; }
    // Server CPU microseconds per measured connection (also in request mode: the connection is
    // the unit compared across servers).
    std::optional<double> server_cpu_us_per_connection() const;
    // The load generator's CPU microseconds per measured connection, during the interval.
    std::optional<double> load_cpu_us_per_connection() const;
    // --hold: the server's memory growth per held connection, in bytes.
    std::optional<double> server_rss_per_held_connection() const;
};

nlohmann::json report_json(const LoadReport& report);
std::string report_text(const LoadReport& report);

}  // namespace snibind::load
