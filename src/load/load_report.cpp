#include "load/load_report.h"

#include <fmt/format.h>

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

}  // namespace

std::optional<double> LoadReport::server_cpu_us_per_connection() const {
    if (!server || connections == 0) return std::nullopt;
    return std::chrono::duration<double, std::micro>(server->used).count() /
           static_cast<double>(connections);
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
        {"threads", r.threads},
        {"concurrency", r.concurrency},
        {"seconds", r.seconds},
        {"connections", r.connections},
        {"completed", r.completed},
        {"errors", r.errors},
        {"errors_by_kind", r.errors_by_kind},
        {"connections_per_second", r.per_second(r.connections)},
        {"latency_us", latency_json(r.connect_latency)},
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
    }
    return j;
}

std::string report_text(const LoadReport& r) {
    std::string out = fmt::format(
        "snibind load: {} against {}, {} thread(s), concurrency {}, {:.2f} s measured\n",
        to_string(r.mode), r.target, r.threads, r.concurrency, r.seconds);
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
    if (r.server) {
        out += fmt::format("server CPU (pid {})    {:.0f} µs, {:.1f} µs per connection\n",
                           r.server->pid,
                           std::chrono::duration<double, std::micro>(r.server->used).count(),
                           r.server_cpu_us_per_connection().value_or(0.0));
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
    return out;
}

}  // namespace snibind::load
