#pragma once
// What `snibind load` is asked to do, and the parsers for its option values. Pure.
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bindings/address.h"
#include "bindings/selection.h"

namespace snibind::load {

enum class Mode { hello, handshake, resume, request };
std::string_view to_string(Mode m);
std::optional<Mode> parse_mode(std::string_view text);

enum class TlsVersion { any, tls12, tls13 };

struct LoadOptions {
    Mode mode = Mode::handshake;
    Endpoint target;                      // the port; also the address unless `destinations`
    std::vector<IpAddress> destinations;  // connections go round-robin over these
    // The addresses connected to: `destinations`, or the target's address alone.
    std::vector<IpAddress> destination_addresses() const {
        return destinations.empty() ? std::vector<IpAddress>{target.addr} : destinations;
    }
    std::size_t concurrency = 1;                       // connections in flight at any time
    std::optional<std::chrono::nanoseconds> duration;  // either this ...
    std::optional<std::uint64_t> connections;          // ... or this
    // Connection starts per second for the whole run (all workers); 0: no limit. With a rate,
    // latency counts from the time a connection was due to start, not from when it could
    // (coordinated omission, as wrk2 corrects it).
    double rate = 0;
    std::chrono::nanoseconds warmup{0};  // run, but do not count, for this long first
    std::chrono::nanoseconds timeout = std::chrono::seconds(10);  // per connection
    unsigned threads = 1;  // event loops (threads) in each worker process
    unsigned workers = 1;  // worker processes for the whole run
    // In a worker process: which one it is, of how many. Its share of the run, its random
    // streams and its place in the --rate schedule follow from them (worker_plan.h).
    unsigned worker_index = 0, worker_count = 1;

    std::vector<std::string> names;  // empty: no connection sends SNI
    double zipf = 0;                 // 0: names drawn uniformly
    double no_sni = 0;               // share (0..1) of connections sent without SNI
    std::uint64_t seed = 1;

    // hello mode
    std::string hello_template = "chromium";
    std::size_t split_records = 1;
    std::size_t split_writes = 1;
    bool one_byte_writes = false;

    // TLS modes
    TlsVersion tls_version = TlsVersion::any;
    std::size_t keepalive = 1;  // request mode: requests per connection
    bool resume = false;        // request mode: resume the last session (as mode resume does)
    // Whether connections offer the session of an earlier one (resume mode, or request --resume).
    bool resumes() const { return mode == Mode::resume || resume; }
    std::string path = "/";

    std::string expect_store;  // a netsh text store; empty: no check
    SelectionSettings selection;
    // Keep each connection open once its hello is sent (hello mode) or its handshake (and
    // requests) done, until the run ends: -c N leaves N idle connections on the server.
    bool hold = false;
    std::optional<pid_t> server_pid;
    bool progress = false;  // a live line on stderr once a second
};

// "10s", "500ms", "2m", "1.5s", "250us", "1h"; a bare number is seconds.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);
// "1000/s", "1000", "60/m", "5/ms": starts per second.
std::optional<double> parse_rate(std::string_view text);
// "5%", "5", "0.5%": a share of 0..1 (the number is always a percentage).
std::optional<double> parse_percent(std::string_view text);
// "127.0.0.1,127.0.0.2" (commas and/or spaces); nullopt when any address does not parse.
std::optional<std::vector<IpAddress>> parse_address_list(std::string_view text);
// The lines of a --names file: one name a line; blank lines and lines starting with '#' skipped,
// surrounding white space trimmed.
std::vector<std::string> parse_names(std::string_view text);

}  // namespace snibind::load
