#include "admin/metrics.h"

#include <fmt/format.h>

namespace snibind::admin {

using stats::Histogram;

namespace {

std::string label_value(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <std::size_t N>
void histogram(std::string& out, std::string_view name, std::string_view help,
               const Histogram<N>& h) {
    header(out, name, "histogram", help);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < N; ++i) {
        cumulative += h.counts[i];
        out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, h.bounds[i], cumulative);
    }
    out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, h.count, name,
                       h.sum, name, h.count);
}

template <std::size_t N>
nlohmann::json histogram_json(const Histogram<N>& h) {
    nlohmann::json buckets = nlohmann::json::array();
    for (std::size_t i = 0; i < N; ++i)
        buckets.push_back({{"le", h.bounds[i]}, {"count", h.counts[i]}});
    buckets.push_back({{"le", "+Inf"}, {"count", h.counts[N]}});
    return {{"count", h.count}, {"sum", h.sum}, {"buckets", buckets}};
}

constexpr Outcome kOutcomes[] = {Outcome::selected, Outcome::rejected, Outcome::no_match,
                                 Outcome::failed};

}  // namespace

std::string prometheus_text(const stats::Stats& s) {
    std::string out;
    header(out, "snibind_connections_accepted_total", "counter", "Connections accepted.");
    out += fmt::format("snibind_connections_accepted_total {}\n", s.accepted);
    header(out, "snibind_connections_refused_total", "counter",
           "Connections refused over limits.max_connections.");
    out += fmt::format("snibind_connections_refused_total {}\n", s.refused);
    header(out, "snibind_connections_open", "gauge",
           "Connections open now (counted against limits.max_connections).");
    out += fmt::format("snibind_connections_open {}\n", s.open);
    header(out, "snibind_accept_fd_exhausted_total", "counter",
           "Accepts that failed for want of file descriptors (EMFILE, ENFILE) or socket memory; "
           "each pauses that listener for 100 ms.");
    out += fmt::format("snibind_accept_fd_exhausted_total {}\n", s.accept_fd_exhausted);
    header(out, "snibind_connections_total", "counter",
           "Connections ended, by result (the access log's result field).");
    // Results and actions that occurred (a zero row for each of 25 results would bury them).
    for (const stats::ResultInfo& r : stats::kResults)
        if (auto n = s.count(r.result))
            out += fmt::format("snibind_connections_total{{result=\"{}\"}} {}\n", r.name, n);
    header(out, "snibind_connection_actions_total", "counter",
           "Connections by action: terminate, forward, reject, fail, close (never routed).");
    for (std::size_t i = 0; i < stats::kActionCount; ++i)
        if (s.actions[i])
            out += fmt::format("snibind_connection_actions_total{{action=\"{}\"}} {}\n",
                               stats::kActionNames[i], s.actions[i]);
    header(out, "snibind_errors_total", "counter", "Connections that ended in error, by kind.");
    for (const stats::ResultInfo& r : stats::kResults)
        if (auto n = s.count(r.result); n && r.is_error)
            out += fmt::format("snibind_errors_total{{kind=\"{}\"}} {}\n", r.name, n);
    header(out, "snibind_decisions_total", "counter",
           "Selection decisions, by the lookup step that decided (src/bindings/README.md L1).");
    for (std::size_t i = 0; i < stats::kStepCount; ++i)
        out += fmt::format("snibind_decisions_total{{step=\"{}\"}} {}\n",
                           to_string(static_cast<Step>(i)), s.decisions_by_step[i]);
    header(out, "snibind_decision_outcomes_total", "counter", "Selection decisions, by outcome.");
    for (Outcome o : kOutcomes)
        out += fmt::format("snibind_decision_outcomes_total{{outcome=\"{}\"}} {}\n", to_string(o),
                           s.decisions_by_outcome[static_cast<std::size_t>(o)]);
    header(out, "snibind_record_hits_total", "counter", "Connections each record was chosen for.");
    for (const auto& [record, n] : s.record_hits)
        out +=
            fmt::format("snibind_record_hits_total{{record=\"{}\"}} {}\n", label_value(record), n);
    header(out, "snibind_record_hits_other_total", "counter",
           fmt::format("Connections of records a worker did not count by name (past its first {}).",
                       stats::Stats::kMaxRecordHitKeys));
    out += fmt::format("snibind_record_hits_other_total {}\n", s.record_hits_other);
    header(out, "snibind_handshakes_total", "counter", "TLS handshakes completed (terminate).");
    out += fmt::format("snibind_handshakes_total {}\n", s.handshakes);
    header(out, "snibind_backend_connections_total", "counter",
           "Connections to sites' backends that requests used after termination, by how they were "
           "got: new, or reused from the keep-alive pool.");
    out += fmt::format("snibind_backend_connections_total{{how=\"new\"}} {}\n",
                       s.backend_connections_new);
    out += fmt::format("snibind_backend_connections_total{{how=\"reused\"}} {}\n",
                       s.backend_connections_reused);
    header(out, "snibind_requests_total", "counter", "HTTP requests after termination.");
    out += fmt::format("snibind_requests_total {}\n", s.requests);
    histogram(out, "snibind_hello_bytes", "Size of the ClientHello in bytes.", s.hello_bytes);
    histogram(out, "snibind_hello_reads", "Socket reads a ClientHello took.", s.hello_reads);
    histogram(out, "snibind_handshake_seconds", "TLS handshake time (terminate).",
              s.handshake_seconds);
    histogram(out, "snibind_backend_connect_seconds", "Time to connect to a backend.",
              s.backend_connect_seconds);
    return out;
}

nlohmann::json stats_json(const stats::Stats& s) {
    nlohmann::json j;
    j["accepted"] = s.accepted;
    j["refused"] = s.refused;
    j["open"] = s.open;
    j["accept_fd_exhausted"] = s.accept_fd_exhausted;
    j["handshakes"] = s.handshakes;
    j["backend_connections"] = {{"new", s.backend_connections_new},
                                {"reused", s.backend_connections_reused}};
    j["requests"] = s.requests;
    j["errors"] = s.errors();
    j["results"] = nlohmann::json::object();
    for (const stats::ResultInfo& r : stats::kResults)
        if (auto n = s.count(r.result)) j["results"][std::string(r.name)] = n;
    j["actions"] = nlohmann::json::object();
    for (std::size_t i = 0; i < stats::kActionCount; ++i)
        if (s.actions[i]) j["actions"][std::string(stats::kActionNames[i])] = s.actions[i];
    for (std::size_t i = 0; i < stats::kStepCount; ++i)
        j["decisions_by_step"][std::string(to_string(static_cast<Step>(i)))] =
            s.decisions_by_step[i];
    for (Outcome o : kOutcomes)
        j["decisions_by_outcome"][std::string(to_string(o))] =
            s.decisions_by_outcome[static_cast<std::size_t>(o)];
    j["record_hits"] = nlohmann::json::object();
    for (const auto& [record, n] : s.record_hits) j["record_hits"][record] = n;
    j["record_hits_other"] = s.record_hits_other;
    j["hello_bytes"] = histogram_json(s.hello_bytes);
    j["hello_reads"] = histogram_json(s.hello_reads);
    j["handshake_seconds"] = histogram_json(s.handshake_seconds);
    j["backend_connect_seconds"] = histogram_json(s.backend_connect_seconds);
    return j;
}

}  // namespace snibind::admin
