#include "load/load_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace snibind::load {

namespace {

nlohmann::json latency_json(const LatencyHistogram& h) {
    return {{"count", h.count()},          {"min", h.min()},          {"mean", h.mean()},
            {"p50", h.percentile(50)},     {"p90", h.percentile(90)}, {"p99", h.percentile(99)},
            {"p99_9", h.percentile(99.9)}, {"max", h.max()}};
}

std::string latency_line(std::string_view label, const LatencyHistogram& h) {
    return fmt::format("{:<22} p50 {} µs  p90 {} µs  p99 {} µs  p99.9 {} µs  max {} µs\n", label,
                       h.percentile(50), h.percentile(90), h.percentile(99), h.percentile(99.9),
                       h.max());
}

bool tls_mode(Mode m) {
    return m != Mode::hello;
}

double us(std::chrono::nanoseconds d) {
    return std::chrono::duration<double, std::micro>(d).count();
}

constexpr std::string_view kIntendedStart =
    "latency counts from each connection's intended start under --rate: coordinated omission "
    "corrected, as wrk2 does";

nlohmann::json worker_json(const WorkerResult& w) {
    nlohmann::json j = {{"index", w.index},
                        {"pid", w.pid},
                        {"status", w.status},
                        {"counted", w.counted},
                        {"concurrency", w.concurrency},
                        {"connections", w.connections},
                        {"errors", w.errors}};
    if (w.connections_share) j["connections_share"] = *w.connections_share;
    if (w.counted) {
        j["completed"] = w.completed;
        j["handshakes"] = w.handshakes;
        j["requests"] = w.requests;
        j["held"] = w.held;
        j["seconds"] = w.seconds;
        j["cpu_us"] = us(w.cpu);
        j["latency_us"] = latency_json(w.connect_latency);
    }
    return j;
}

}  // namespace

std::optional<double> LoadReport::server_cpu_us_per_connection() const {
    if (!server || connections == 0) return std::nullopt;
    return std::chrono::duration<double, std::micro>(server->used).count() /
           static_cast<double>(connections);
}

std::optional<double> LoadReport::load_cpu_us_per_connection() const {
    if (connections == 0) return std::nullopt;
    return std::chrono::duration<double, std::micro>(load_cpu).count() /
           static_cast<double>(connections);
}

bool LoadReport::complete() const {
    return std::all_of(per_worker.begin(), per_worker.end(),
                       [](const WorkerResult& w) { return w.ok(); });
}

std::optional<double> LoadReport::server_rss_per_held_connection() const {
    if (!server || !server->rss_before || !server->rss_end || held == 0) return std::nullopt;
    return (static_cast<double>(*server->rss_end) - static_cast<double>(*server->rss_before)) /
           static_cast<double>(held);
}

nlohmann::json report_json(const LoadReport& r) {
    nlohmann::json j = {
        {"mode", to_string(r.mode)},
        {"target", r.target},
        {"workers", r.workers},
        {"threads", r.threads},
        {"concurrency", r.concurrency},
        {"seconds", r.seconds},
        {"connections", r.connections},
        {"completed", r.completed},
        {"errors", r.errors},
        {"errors_by_kind", r.errors_by_kind},
        {"connections_per_second", r.per_second(r.connections)},
        {"latency_us", latency_json(r.connect_latency)},
        {"latency_from", r.latency_from_intended_start ? "intended start" : "connection start"},
        {"complete", r.complete()},
        {"stopped_early", r.stopped_early},
    };
    if (r.mode == Mode::hello) {
        j["replied"] = r.replied;
        j["closed_without_reply"] = r.closed_without_reply;
    }
    if (tls_mode(r.mode)) {
        j["handshakes"] = r.handshakes;
        j["handshakes_per_second"] = r.per_second(r.handshakes);
        j["resumed"] = r.resumed;
        j["certificates"] = r.certificates;
    }
    if (r.mode == Mode::request) {
        j["requests"] = r.requests;
        j["requests_per_second"] = r.per_second(r.requests);
        nlohmann::json status = nlohmann::json::object();
        for (auto [code, n] : r.http_status) status[std::to_string(code)] = n;
        j["http_status"] = status;
        j["request_latency_us"] = latency_json(r.request_latency);
    }
    if (r.expect)
        j["expect"] = {{"checked", r.expect_checked}, {"mismatches", r.expect_mismatches}};
    if (r.hold) j["held"] = r.held;
    if (r.server) {
        j["server"] = {
            {"pid", r.server->pid},
            {"cpu_us", std::chrono::duration<double, std::micro>(r.server->used).count()},
            {"cpu_us_per_connection", r.server_cpu_us_per_connection().value_or(0.0)},
            {"rss_before_bytes", r.server->rss_before.value_or(0)},
            {"rss_end_bytes", r.server->rss_end.value_or(0)}};
        if (auto per = r.server_rss_per_held_connection())
            j["server"]["rss_per_held_connection_bytes"] = *per;
        j["server"]["processes"] = r.server->processes;
    }
    j["load_cpu"] = {{"cpu_us", us(r.load_cpu)},
                     {"cpu_us_per_connection", r.load_cpu_us_per_connection().value_or(0.0)}};
    if (r.load_cpu_whole_run) j["load_cpu"]["whole_run_cpu_us"] = us(*r.load_cpu_whole_run);
    nlohmann::json workers = nlohmann::json::array();
    for (const WorkerResult& w : r.per_worker) workers.push_back(worker_json(w));
    j["per_worker"] = workers;
    return j;
}

std::string report_text(const LoadReport& r) {
    std::string out = fmt::format(
        "snibind load: {} against {}, {} worker(s) x {} thread(s), concurrency {}, {:.2f} s "
        "measured{}\n",
        to_string(r.mode), r.target, r.workers, r.threads, r.concurrency, r.seconds,
        r.stopped_early ? " (stopped early)" : "");
    out += fmt::format("connections            {} ({} completed, {} errors)  {:.1f}/s\n",
                       r.connections, r.completed, r.errors, r.per_second(r.connections));
    if (r.mode == Mode::hello) {
        out += fmt::format("replies                {} answered, {} closed without a byte\n",
                           r.replied, r.closed_without_reply);
        out += latency_line("latency (first byte)", r.connect_latency);
    } else {
        out += fmt::format("handshakes             {}  {:.1f}/s, {} resumed\n", r.handshakes,
                           r.per_second(r.handshakes), r.resumed);
        out += latency_line("latency (handshake)", r.connect_latency);
    }
    if (r.latency_from_intended_start) out += fmt::format("  ({})\n", kIntendedStart);
    if (r.mode == Mode::request) {
        out += fmt::format("requests               {}  {:.1f}/s\n", r.requests,
                           r.per_second(r.requests));
        for (auto [code, n] : r.http_status) out += fmt::format("  HTTP {}  {}\n", code, n);
        out += latency_line("latency (request)", r.request_latency);
    }
    if (!r.errors_by_kind.empty()) {
        out += "errors\n";
        for (const auto& [kind, n] : r.errors_by_kind) out += fmt::format("  {:<28} {}\n", kind, n);
    }
    if (!r.certificates.empty()) {
        out += "certificates served\n";
        for (const auto& [name, served] : r.certificates)
            for (const auto& [thumbprint, n] : served)
                out += fmt::format("  {:<40} {}  {}\n", name, thumbprint, n);
    }
    if (r.expect)
        out += fmt::format("expect                 {} checked, {} unexpected certificates\n",
                           r.expect_checked, r.expect_mismatches);
    out += fmt::format(
        "load generator CPU     {:.0f} µs, {:.1f} µs per connection ({} worker(s) and the "
        "parent)\n",
        us(r.load_cpu), r.load_cpu_us_per_connection().value_or(0.0), r.workers);
    if (r.load_cpu_whole_run)
        out += fmt::format("                       {:.0f} µs in all, start-up included\n",
                           us(*r.load_cpu_whole_run));
    if (r.server) {
        out += fmt::format(
            "server CPU (pid {}{})    {:.0f} µs, {:.1f} µs per connection\n", r.server->pid,
            r.server->processes > 1 ? fmt::format(" and {} descendants", r.server->processes - 1)
                                    : std::string(),
            us(r.server->used), r.server_cpu_us_per_connection().value_or(0.0));
        if (r.server->rss_before && r.server->rss_end)
            out += fmt::format(
                "server memory          {:.1f} MiB at the start, {:.1f} MiB at the end\n",
                static_cast<double>(*r.server->rss_before) / (1 << 20),
                static_cast<double>(*r.server->rss_end) / (1 << 20));
    }
    if (r.hold) {
        out += fmt::format("held open              {} connections at the end", r.held);
        if (auto per = r.server_rss_per_held_connection())
            out += fmt::format(", {:.1f} KiB of server memory each", *per / 1024);
        out += "\n";
    }
    if (r.per_worker.size() > 1 || !r.complete()) {
        out += "workers\n";
        for (const WorkerResult& w : r.per_worker) {
            if (w.counted)
                out += fmt::format(
                    "  worker {} (pid {})  {}  {} connections, {} errors, p99 {} µs, CPU {:.0f} "
                    "µs\n",
                    w.index, w.pid, w.status, w.connections, w.errors,
                    w.connect_latency.percentile(99), us(w.cpu));
            else
                out += fmt::format(
                    "  worker {} (pid {})  {}: its counts are missing from the totals (last "
                    "seen: {} connections, {} errors)\n",
                    w.index, w.pid, w.status, w.connections, w.errors);
        }
    }
    if (!r.complete()) {
        std::string missing;
        for (const WorkerResult& w : r.per_worker)
            if (!w.ok())
                missing += fmt::format("{}worker {} {} ({})", missing.empty() ? "" : "; ", w.index,
                                       w.status,
                                       w.counted ? "its counts are in the totals"
                                                 : "its counts are missing from the totals");
        out += fmt::format("INCOMPLETE: {}\n", missing);
    }
    return out;
}

}  // namespace snibind::load
