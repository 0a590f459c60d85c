#pragma once
// What `snibind serve` counts. Each worker owns one Stats and is the only thread that writes it;
// the admin console asks every worker for a copy (a message posted to its io_context) and merges
// them, so counting needs no atomics and no locks.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "bindings/selection.h"
#include "stats/connection_result.h"

namespace snibind::stats {

// A fixed-bucket histogram (Prometheus style: cumulative when rendered).
template <std::size_t N>
struct Histogram {
    std::array<double, N> bounds{};  // upper bounds, increasing; +Inf is implicit
    std::array<std::uint64_t, N + 1> counts{};
    std::uint64_t count = 0;
    double sum = 0;

    void observe(double v) {
        std::size_t i = 0;
        while (i < N && v > bounds[i]) ++i;
        ++counts[i];
        ++count;
        sum += v;
    }
    void merge(const Histogram& o) {
        for (std::size_t i = 0; i <= N; ++i) counts[i] += o.counts[i];
        count += o.count;
        sum += o.sum;
    }
};

inline constexpr std::size_t kStepCount = 7;

struct Stats {
    Stats();

    std::uint64_t accepted = 0, refused = 0;  // refused: over max_connections
    // A gauge: connections open now (accepted and not yet ended). Filled in by the worker's
    // snapshot, not counted here.
    std::uint64_t open = 0;
    // Accepts that failed for want of file descriptors (net/accept_backoff.h); process-wide,
    // filled in by whoever collects the workers' copies.
    std::uint64_t accept_fd_exhausted = 0;
    std::uint64_t handshakes = 0;  // completed TLS handshakes (terminate)
    std::uint64_t requests = 0;    // HTTP requests after termination
    // Connections to sites' backends after termination that a request used: opened for it, or
    // taken idle from the worker's keep-alive pool (proxy/backend_pool.h). A request retried
    // on a new connection after a reused one failed counts once more in `new`.
    std::uint64_t backend_connections_new = 0, backend_connections_reused = 0;
    // Decisions: by the step that decided, and by outcome (selected, rejected, no_match, failed).
    std::array<std::uint64_t, kStepCount> decisions_by_step{};
    std::array<std::uint64_t, 4> decisions_by_outcome{};
    // Connections by how they ended (the access log's `result`), indexed by ConnectionResult...
    std::array<std::uint64_t, kResultCount> results{};
    // ... and by what was done with them, indexed by ConnectionAction.
    std::array<std::uint64_t, kActionCount> actions{};
    // Per-record hits, by the record's display key ("IP:port 0.0.0.0:443"), for at most
    // kMaxRecordHitKeys records per worker; the connections of records past that count in
    // record_hits_other. A hosting front end's store holds a million names: one series per
    // name is more than a Prometheus server keeps, and a map of a million strings per worker,
    // probed at random for every connection, cost the forward path 10 % (bench/README.md).
    static constexpr std::size_t kMaxRecordHitKeys = 10000;
    // Looked up by std::string_view without a copy. Not absl::flat_hash_map: Debian's Abseil is
    // built with its own absl::string_view, so its transparent string hash takes no std one.
    struct StringHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::unordered_map<std::string, std::uint64_t, StringHash, std::equal_to<>> record_hits;
    std::uint64_t record_hits_other = 0;

    Histogram<8> hello_bytes;               // bytes of the ClientHello
    Histogram<6> hello_reads;               // socket reads it took
    Histogram<10> handshake_seconds;        // TLS handshake, terminate mode
    Histogram<10> backend_connect_seconds;  // connect (and TLS) to a backend

    void merge(const Stats& other);
    // Counts one connection for the record named `record`, allocating only for a new name.
    void count_record_hit(std::string_view record) {
        if (auto it = record_hits.find(record); it != record_hits.end())
            ++it->second;
        else if (record_hits.size() < kMaxRecordHitKeys)
            record_hits.emplace(record, 1);
        else
            ++record_hits_other;
    }
    // Counts one connection that ended with `result` after `action`.
    void count_end(ConnectionResult result, ConnectionAction action) {
        ++results[static_cast<std::size_t>(result)];
        ++actions[static_cast<std::size_t>(action)];
    }
    std::uint64_t count(ConnectionResult r) const { return results[static_cast<std::size_t>(r)]; }
    std::uint64_t count(ConnectionAction a) const { return actions[static_cast<std::size_t>(a)]; }
    // Connections whose result is an error kind (is_error).
    std::uint64_t errors() const;
    // Connections whose result is in the stop summary's group `g`.
    std::uint64_t count(SummaryGroup g) const;
};

}  // namespace snibind::stats
