#include "stats/stats.h"

namespace snibind::stats {

Stats::Stats() {
    hello_bytes.bounds = {256, 512, 768, 1024, 1536, 2048, 4096, 16384};
    hello_reads.bounds = {1, 2, 3, 5, 10, 100};
    handshake_seconds.bounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1};
    backend_connect_seconds.bounds = handshake_seconds.bounds;
}

void Stats::merge(const Stats& o) {
    accepted += o.accepted;
    refused += o.refused;
    open += o.open;
    accept_fd_exhausted += o.accept_fd_exhausted;
    handshakes += o.handshakes;
    requests += o.requests;
    backend_connections_new += o.backend_connections_new;
    backend_connections_reused += o.backend_connections_reused;
    for (std::size_t i = 0; i < decisions_by_step.size(); ++i)
        decisions_by_step[i] += o.decisions_by_step[i];
    for (std::size_t i = 0; i < decisions_by_outcome.size(); ++i)
        decisions_by_outcome[i] += o.decisions_by_outcome[i];
    for (std::size_t i = 0; i < results.size(); ++i) results[i] += o.results[i];
    for (std::size_t i = 0; i < actions.size(); ++i) actions[i] += o.actions[i];
    for (const auto& [k, v] : o.record_hits) record_hits[k] += v;
    record_hits_other += o.record_hits_other;
    hello_bytes.merge(o.hello_bytes);
    hello_reads.merge(o.hello_reads);
    handshake_seconds.merge(o.handshake_seconds);
    backend_connect_seconds.merge(o.backend_connect_seconds);
}

std::uint64_t Stats::errors() const {
    std::uint64_t n = 0;
    for (const ResultInfo& r : kResults)
        if (r.is_error) n += count(r.result);
    return n;
}

std::uint64_t Stats::count(SummaryGroup g) const {
    std::uint64_t n = 0;
    for (const ResultInfo& r : kResults)
        if (r.group == g) n += count(r.result);
    return n;
}

}  // namespace snibind::stats
