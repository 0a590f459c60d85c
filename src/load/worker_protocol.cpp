#include "load/worker_protocol.h"

#include <charconv>
#include <map>
#include <nlohmann/json.hpp>

#include "report/json_output.h"

namespace snibind::load {

namespace {

using nlohmann::json;

// A count: a JSON integer that is not negative (nlohmann would turn -1 into 2^64 - 1).
std::uint64_t count(const json& j) {
    if (!j.is_number_unsigned())
        throw std::runtime_error(report::json_text(j, -1) + " is not a count");
    return j.get<std::uint64_t>();
}
std::uint64_t count(const json& j, const char* key) {
    return count(j.at(key));
}

json histogram_json(const LatencyHistogram& h) {
    const auto s = h.snapshot();
    json buckets = json::array();
    for (const auto& [index, n] : s.buckets) buckets.push_back({index, n});
    return {
        {"count", s.count}, {"sum", s.sum}, {"min", s.min}, {"max", s.max}, {"buckets", buckets}};
}

LatencyHistogram histogram_from(const json& j) {
    LatencyHistogram::Snapshot s;
    s.count = count(j, "count");
    s.sum = count(j, "sum");
    s.min = count(j, "min");
    s.max = count(j, "max");
    for (const auto& b : j.at("buckets")) s.buckets.emplace_back(count(b.at(0)), count(b.at(1)));
    auto h = LatencyHistogram::from_snapshot(s);
    if (!h) throw std::runtime_error("an inconsistent latency histogram");
    return *h;
}

std::string line(const json& j) {
    return report::json_text(j, -1) + "\n";
}

}  // namespace

std::string ready_message() {
    return line({{"ready", true}});
}

std::string progress_message(const Progress& p) {
    return line(
        {{"progress", {{"connections", p.connections}, {"errors", p.errors}, {"held", p.held}}}});
}

std::string report_message(const LoadReport& r, const std::vector<std::string>& names) {
    std::map<std::string_view, std::size_t> index;  // the first of equal names
    for (std::size_t i = names.size(); i-- > 0;) index[names[i]] = i;
    index.try_emplace(kNoSniName, names.size());
    json certificates = json::array();
    for (const auto& [name, served] : r.certificates) {
        auto it = index.find(name);
        if (it == index.end()) continue;  // cannot happen: every name comes from `names`
        for (const auto& [thumbprint, n] : served)
            certificates.push_back({it->second, thumbprint, n});
    }
    json status = json::array();
    for (auto [code, n] : r.http_status) status.push_back({code, n});
    return line({{"report",
                  {{"connections", r.connections},
                   {"completed", r.completed},
                   {"errors", r.errors},
                   {"errors_by_kind", r.errors_by_kind},
                   {"replied", r.replied},
                   {"closed_without_reply", r.closed_without_reply},
                   {"handshakes", r.handshakes},
                   {"resumed", r.resumed},
                   {"certificates", certificates},
                   {"requests", r.requests},
                   {"http_status", status},
                   {"connect_latency", histogram_json(r.connect_latency)},
                   {"request_latency", histogram_json(r.request_latency)},
                   {"expect_checked", r.expect_checked},
                   {"expect_mismatches", r.expect_mismatches},
                   {"held", r.held},
                   {"seconds", r.seconds},
                   {"load_cpu_ns", r.load_cpu.count()},
                   {"stopped_early", r.stopped_early}}}});
}

std::optional<WorkerMessage> parse_worker_message(std::string_view text,
                                                  const std::vector<std::string>& names,
                                                  std::string& error) {
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.size() != 1) {
        error = "not a worker message: " + std::string(text.substr(0, 80));
        return std::nullopt;
    }
    WorkerMessage m;
    try {
        if (j.contains("ready")) {
            m.kind = WorkerMessage::Kind::ready;
        } else if (j.contains("progress")) {
            m.kind = WorkerMessage::Kind::progress;
            const json& p = j["progress"];
            m.progress = {count(p, "connections"), count(p, "errors"), count(p, "held")};
        } else if (j.contains("report")) {
            m.kind = WorkerMessage::Kind::report;
            const json& r = j["report"];
            LoadReport& out = m.report;
            out.connections = count(r, "connections");
            out.completed = count(r, "completed");
            out.errors = count(r, "errors");
            for (const auto& [kind, n] : r.at("errors_by_kind").items())
                out.errors_by_kind[kind] = count(n);
            out.replied = count(r, "replied");
            out.closed_without_reply = count(r, "closed_without_reply");
            out.handshakes = count(r, "handshakes");
            out.resumed = count(r, "resumed");
            for (const auto& c : r.at("certificates")) {
                const auto i = count(c.at(0));
                if (i > names.size()) throw std::runtime_error("a name index out of range");
                const std::string name = i < names.size() ? names[i] : std::string(kNoSniName);
                out.certificates[name][c.at(1).get<std::string>()] += count(c.at(2));
            }
            out.requests = count(r, "requests");
            for (const auto& s : r.at("http_status"))
                out.http_status[s.at(0).get<int>()] += count(s.at(1));
            out.connect_latency = histogram_from(r.at("connect_latency"));
            out.request_latency = histogram_from(r.at("request_latency"));
            out.expect_checked = count(r, "expect_checked");
            out.expect_mismatches = count(r, "expect_mismatches");
            out.held = count(r, "held");
            out.seconds = r.at("seconds").get<double>();
            out.load_cpu = std::chrono::nanoseconds(r.at("load_cpu_ns").get<std::int64_t>());
            out.stopped_early = r.at("stopped_early").get<bool>();
        } else {
            error = "an unknown worker message: " + std::string(text.substr(0, 80));
            return std::nullopt;
        }
    } catch (const std::exception& e) {
        error = std::string("a malformed worker message: ") + e.what();
        return std::nullopt;
    }
    return m;
}

std::string go_command(std::chrono::steady_clock::time_point start) {
    return "go " + std::to_string(start.time_since_epoch().count()) + "\n";
}

std::optional<std::chrono::steady_clock::time_point> parse_go_command(std::string_view line) {
    constexpr std::string_view kGo = "go ";
    if (line.substr(0, kGo.size()) != kGo) return std::nullopt;
    line.remove_prefix(kGo.size());
    std::chrono::steady_clock::rep ns = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), ns);
    if (ec != std::errc() || p != line.data() + line.size()) return std::nullopt;
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(ns));
}

void merge_report(LoadReport& total, const LoadReport& part) {
    total.connections += part.connections;
    total.completed += part.completed;
    total.errors += part.errors;
    for (const auto& [kind, n] : part.errors_by_kind) total.errors_by_kind[kind] += n;
    total.replied += part.replied;
    total.closed_without_reply += part.closed_without_reply;
    total.handshakes += part.handshakes;
    total.resumed += part.resumed;
    for (const auto& [name, served] : part.certificates)
        for (const auto& [thumbprint, n] : served) total.certificates[name][thumbprint] += n;
    total.requests += part.requests;
    for (auto [code, n] : part.http_status) total.http_status[code] += n;
    total.connect_latency.merge(part.connect_latency);
    total.request_latency.merge(part.request_latency);
    total.expect_checked += part.expect_checked;
    total.expect_mismatches += part.expect_mismatches;
    total.held += part.held;
    total.seconds = std::max(total.seconds, part.seconds);
    total.load_cpu += part.load_cpu;
    total.stopped_early = total.stopped_early || part.stopped_early;
}

}  // namespace snibind::load
