#include "proxy/access_log.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace snibind::proxy {

namespace {

// logfmt value: bare when it is a plain token, else quoted with \" and \\ escaped.
void append_value(std::string& out, std::string_view v) {
    if (v.empty()) {
        out += '-';
        return;
    }
    bool plain = true;
    for (char c : v)
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) > 126)
            plain = false;
    if (plain) {
        out += v;
        return;
    }
    out += '"';
    for (char c : v) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126)
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        else
            out += c;
    }
    out += '"';
}

void field(std::string& out, std::string_view key, std::string_view value) {
    out += ' ';
    out += key;
    out += '=';
    append_value(out, value);
}

}  // namespace

std::unique_ptr<AccessLog> AccessLog::open(const std::string& target, std::string& error) {
    std::shared_ptr<spdlog::logger> logger;
    try {
        if (target == "off") {
            return std::unique_ptr<AccessLog>(new AccessLog(nullptr));
        } else if (target == "stdout") {
            logger = std::make_shared<spdlog::logger>(
                "access", std::make_shared<spdlog::sinks::stdout_sink_mt>());
        } else {
            logger = std::make_shared<spdlog::logger>(
                "access", std::make_shared<spdlog::sinks::basic_file_sink_mt>(target));
        }
    } catch (const spdlog::spdlog_ex& e) {
        error = fmt::format("access_log: cannot open '{}': {}", target, e.what());
        return nullptr;
    }
    logger->set_pattern("%v");
    logger->flush_on(spdlog::level::info);
    return std::unique_ptr<AccessLog>(new AccessLog(std::move(logger)));
}

AccessLog::~AccessLog() = default;

void AccessLog::write(const ConnectionLog& entry) {
    if (logger_) logger_->info(format(entry));
}

std::string AccessLog::format(const ConnectionLog& e) {
    auto ms = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - e.start_steady)
                  .count() /
              1000.0;
    std::string out = fmt::format("{:%Y-%m-%dT%H:%M:%S}Z",
                                  std::chrono::floor<std::chrono::milliseconds>(e.start));
    field(out, "client", e.client.to_string());
    field(out, "dst", e.dst.to_string());
    if (e.sni_sent && e.sni.empty())
        out += " sni=\"\"";  // sent, but empty: not the same as no SNI
    else
        field(out, "sni", e.sni);
    field(out, "step", e.step);
    field(out, "record", e.record);
    // Never routed: no action (the metrics call it "close").
    field(out, "action",
          e.action == stats::ConnectionAction::none ? std::string_view() : to_string(e.action));
    field(out, "backend", e.backend);
    out +=
        fmt::format(" in={} out={} requests={} ms={:.3f}", e.bytes_in, e.bytes_out, e.requests, ms);
    field(out, "result", to_string(e.result));
    field(out, "why", e.why);
    return out;
}

}  // namespace snibind::proxy
