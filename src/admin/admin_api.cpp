#include "admin/admin_api.h"

#include <algorithm>
#include <chrono>
#include <exception>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "admin/console_page.h"
#include "admin/metrics.h"
#include "http/http_message.h"
#include "netsh/netsh_fields.h"
#include "report/json_output.h"
#include "text/ascii.h"

namespace snibind::admin {

using nlohmann::json;

namespace {

std::string respond_json(int status, std::string_view reason, const json& body) {
    return http::simple_response(status, reason, "application/json", report::json_text(body) + "\n",
                                 true);
}

std::string error_json(int status, std::string_view reason, std::string_view message) {
    return respond_json(status, reason, json{{"error", message}});
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string url_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
                   hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

// The value of one query parameter ("" when absent).
std::string query_param(std::string_view target, std::string_view name) {
    auto q = target.find('?');
    if (q == std::string_view::npos) return {};
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        auto eq = pair.find('=');
        if (pair.substr(0, eq) == name)
            return eq == std::string_view::npos ? std::string() : url_decode(pair.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return {};
}

std::string iso_date(std::chrono::system_clock::time_point t) {
    return fmt::format("{:%Y-%m-%d}", std::chrono::floor<std::chrono::seconds>(t));
}

// "ok", "expires soon" (30 days), "expired", "not yet valid", "key unusable", "missing".
std::string health(const certs::Certificate* cert) {
    if (!cert) return "missing";
    if (!cert->info().key_usable()) return "key unusable: " + cert->info().key_problem;
    auto now = std::chrono::system_clock::now();
    if (now < cert->info().not_before) return "not yet valid";
    if (now > cert->info().not_after) return "expired";
    if (now + std::chrono::hours(24 * 30) > cert->info().not_after) return "expires soon";
    return "ok";
}

json certificate_json(const certs::Certificate* cert) {
    if (!cert) return nullptr;
    const auto& info = cert->info();
    return {{"subject", info.subject},
            {"thumbprint", info.thumbprint.hex()},
            {"dns_names", info.dns_names},
            {"not_after", iso_date(info.not_after)},
            {"file", info.file.string()}};
}

json record_json(const Record& r, const model::Model& rt) {
    json flags = json::array();
    for (const auto& f : netsh::kSslcertFields)
        if (f.flag && (r.flags & f.flag)) flags.push_back(f.parameter);
    std::shared_ptr<const certs::Certificate> cert;
    if (r.certhash) cert = rt.certificates.find(*r.certhash);
    json j{{"key", r.key.netsh_argument()},
           {"display", r.key.display()},
           {"certhash", r.certhash ? json(r.certhash->hex()) : json(nullptr)},
           {"appid", r.appid ? json(r.appid->to_string()) : json(nullptr)},
           {"store", r.cert_store_name},
           {"flags", flags},
           {"action", "terminate"}};
    if (const config::RecordEntry* entry = rt.action(r.action_id)) {
        j["action"] = std::string(to_string(r.action));
        if (entry->backend) j["backend"] = entry->backend->to_string();
    }
    if (r.key.family == Family::ip || r.key.family == Family::host) {
        j["certificate"] = certificate_json(cert.get());
        j["health"] = health(cert.get());
    }
    return j;
}

json urlacl_json(const model::Model& rt) {
    json list = json::array();
    for (const auto& r : rt.url_reservations) {
        std::string users, listen, delegate;
        for (const auto& u : r.users) {
            users += (users.empty() ? "" : ", ") + u.user;
            listen += std::string(listen.empty() ? "" : ", ") + (u.listen ? "Yes" : "No");
            delegate += std::string(delegate.empty() ? "" : ", ") + (u.delegate ? "Yes" : "No");
        }
        list.push_back({{"url", r.url},
                        {"user", users},
                        {"listen", listen},
                        {"delegate", delegate},
                        {"sddl", r.sddl}});
    }
    return list;
}

json records_json(const model::Model& rt) {
    json ip = json::array(), sni = json::array(), ccs = json::array();
    auto reader = rt.table.read();
    std::vector<const Record*> records = reader.all();
    std::sort(records.begin(), records.end(),
              [](const Record* a, const Record* b) { return a->key.display() < b->key.display(); });
    for (const Record* r : records) {
        json j = record_json(*r, rt);
        switch (r->key.family) {
            case Family::ip:
                ip.push_back(j);
                break;
            case Family::host:
                sni.push_back(j);
                break;
            case Family::ccs:
            case Family::scoped_ccs:
                ccs.push_back(j);
                break;
        }
    }
    json files = json::array();
    for (const auto& cert : rt.certificates.ccs_all()) {
        json f = certificate_json(cert.get());
        f["name"] = cert->info().file.filename().string();
        f["health"] = health(cert.get());
        files.push_back(f);
    }
    return {
        {"version", reader.version()},
        {"profile", to_string(rt.config.selection.profile)},
        {"ip", ip},
        {"sni", sni},
        {"ccs", ccs},
        {"ccs_folder", rt.config.ccs_folder ? json(rt.config.ccs_folder->string()) : json(nullptr)},
        {"ccs_files", files},
        {"urlacl", urlacl_json(rt)}};
}

std::string explain(const AdminRequest& request, const model::Model& rt) {
    auto dst = Endpoint::parse(query_param(request.target, "dst"));
    if (!dst) return error_json(400, "Bad Request", "dst must be ADDR:PORT ([::1]:443 for IPv6)");
    SelectionSettings settings = rt.config.selection;
    if (auto p = query_param(request.target, "profile"); !p.empty()) {
        auto profile = parse_profile(p);
        if (!profile)
            return error_json(
                400, "Bad Request",
                "unknown profile '" + p + "' (one of: " + kProfileNames.list(", ") + ")");
        settings.profile = *profile;
    }
    if (auto p = query_param(request.target, "precedence"); !p.empty()) {
        auto precedence = parse_precedence(p);
        if (!precedence)
            return error_json(
                400, "Bad Request",
                "unknown precedence '" + p + "' (one of: " + kPrecedenceNames.list(", ") + ")");
        settings.precedence = *precedence;
    }
    std::string sni = query_param(request.target, "sni");
    const bool sni_sent = !sni.empty();
    std::string host;
    Connection conn =
        connection_for(*dst, sni_sent ? std::optional<std::string_view>(sni) : std::nullopt,
                       settings.trailing_dot, host);
    auto table = rt.table.read();
    Decision d = select_certificate(table, conn, settings, &rt.certificates);
    json j = report::decision_json(d, settings, chosen_record(table, d));
    // As the lab responder and `snibind hello` show an SNI: every byte visible, valid UTF-8.
    j["sni"] = sni_sent ? json(report::printable(sni)) : json(nullptr);
    j["text"] = report::decision_text(d, settings, sni_sent, sni);
    return respond_json(200, "OK", j);
}

// "http add sslcert ipport=... certhash=..." as a JSON {"command": "..."} or the raw body.
std::vector<std::string> netsh_words(const std::string& body) {
    std::string command = body;
    try {
        json j = json::parse(body);
        if (j.is_object() && j.contains("command") && j["command"].is_string())
            command = j["command"].get<std::string>();
    } catch (const json::exception&) {
    }
    std::vector<std::string> words;
    std::string word;
    for (char c : command) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            if (!word.empty()) words.push_back(std::move(word));
            word.clear();
        } else {
            word += c;
        }
    }
    if (!word.empty()) words.push_back(std::move(word));
    if (!words.empty() && words.front() == "netsh") words.erase(words.begin());
    return words;
}

using Respond = std::function<void(std::string)>;

// A request as one line for messages: printable, and cut (a target can be 8 KiB).
std::string describe(const AdminRequest& request) {
    constexpr std::size_t kMax = 200;
    std::string line =
        report::printable(request.method) + " " + report::printable(request.target.substr(0, kMax));
    if (request.target.size() > kMax) line += "...";
    return line;
}

// Answers 500 with a JSON error for the exception being handled, and reports it: no request may
// take the server down (issue 10: nlohmann's type_error reached std::terminate).
void answer_failure(const AdminRequest& request, const AdminContext& context,
                    const Respond& respond) {
    std::string why = "unknown exception";
    try {
        throw;
    } catch (const std::exception& e) {
        why = e.what();
    } catch (...) {
    }
    if (context.warn) {
        context.warn(
            fmt::format("admin console: {} failed: {}", describe(request), report::printable(why)));
    }
    respond(error_json(500, "Internal Server Error", "internal error: " + why));
}

std::string misdirected(std::string_view host) {
    constexpr std::size_t kMax = 200;
    std::string shown = report::printable(host.substr(0, kMax));
    if (host.size() > kMax) shown += "...";
    return error_json(421, "Misdirected Request",
                      "Host '" + shown +
                          "' is not this console's address or localhost: add the name to "
                          "admin_hosts in the config to use it");
}

std::string strip_dot(std::string_view name) {
    if (name.ends_with('.')) name.remove_suffix(1);
    return to_lower(name);
}

// Every route; answers through `respond` now, or later for the stats routes.
void route(const AdminRequest& request, AdminContext& context, const Respond& respond) {
    std::string_view path = request.target;
    path = path.substr(0, path.find('?'));
    auto rt = context.model();
    if (request.host &&
        !host_allowed(*request.host, context.listener, request.local, rt->config.admin_hosts)) {
        respond(misdirected(*request.host));
        return;
    }
    if (!request.loopback && !request.authorised) {
        respond(error_json(401, "Unauthorized",
                           "the admin console needs 'Authorization: Bearer <token>' from "
                           "anywhere but loopback (admin_token_file)"));
        return;
    }
    if (request.method == "GET" && (path == "/" || path == "/index.html")) {
        respond(http::simple_response(200, "OK", "text/html; charset=utf-8", console_page(), true));
    } else if (request.method == "GET" && path == "/api/records") {
        respond(respond_json(200, "OK", records_json(*rt)));
    } else if (request.method == "GET" && path == "/api/explain") {
        respond(explain(request, *rt));
    } else if (request.method == "GET" && (path == "/api/stats" || path == "/metrics")) {
        bool metrics = path == "/metrics";
        // The answer comes later, on the admin's thread: it gets the same guard.
        context.collect_stats([request, &context, respond, metrics](stats::Stats stats) {
            try {
                if (metrics) {
                    respond(http::simple_response(200, "OK", "text/plain; version=0.0.4",
                                                  prometheus_text(stats), true));
                } else {
                    respond(respond_json(200, "OK", stats_json(stats)));
                }
            } catch (...) {
                answer_failure(request, context, respond);
            }
        });
    } else if (request.method == "POST" && path == "/api/netsh") {
        if (context.token.empty()) {
            respond(error_json(403, "Forbidden",
                               "POST needs a token: set admin_token_file in the config"));
        } else if (!request.authorised) {
            respond(error_json(401, "Unauthorized", "POST needs 'Authorization: Bearer <token>'"));
        } else {
            auto words = netsh_words(request.body);
            if (words.size() < 3 || words[0] != "http" ||
                (words[1] != "add" && words[1] != "delete" && words[1] != "update")) {
                respond(error_json(400, "Bad Request",
                                   "expected {\"command\": \"http add|delete|update sslcert "
                                   "name=value ...\"}"));
                return;
            }
            auto [code, output] = context.netsh(words);
            respond(respond_json(code == 0 ? 200 : 422, code == 0 ? "OK" : "Unprocessable Entity",
                                 json{{"exit_code", code}, {"output", output}}));
        }
    } else if (path == "/" || path.starts_with("/api/") || path == "/metrics") {
        respond(error_json(405, "Method Not Allowed", "method not allowed here"));
    } else {
        respond(error_json(404, "Not Found", "no such page"));
    }
}

}  // namespace

void handle_admin_request(const AdminRequest& request, AdminContext& context, Respond respond) {
    // One answer per request, even from a route that throws after answering.
    auto answered = std::make_shared<bool>(false);
    Respond once = [answered, respond = std::move(respond)](std::string response) {
        if (*answered) return;
        *answered = true;
        respond(std::move(response));
    };
    try {
        route(request, context, once);
    } catch (...) {
        answer_failure(request, context, once);
    }
}

bool host_allowed(std::string_view host, const IpAddress& listener,
                  const std::optional<IpAddress>& local, const std::vector<std::string>& allowed) {
    // RFC 9110 7.2: Host = uri-host [ ":" port ], an IPv6 literal in brackets.
    std::string_view name = host;
    if (name.starts_with('[')) {
        auto close = name.find(']');
        if (close == std::string_view::npos) return false;
        std::string_view rest = name.substr(close + 1);
        if (!rest.empty() && (rest.front() != ':' || !parse_port(rest.substr(1)))) return false;
        name = name.substr(1, close - 1);
        auto addr = IpAddress::parse(name);
        return addr && (*addr == listener || (local && *addr == *local));
    }
    if (auto colon = name.find(':'); colon != std::string_view::npos) {
        if (!parse_port(name.substr(colon + 1))) return false;  // also an IPv6 without brackets
        name = name.substr(0, colon);
    }
    if (name.empty()) return false;
    if (auto addr = IpAddress::parse(name)) return *addr == listener || (local && *addr == *local);
    std::string lower = strip_dot(name);
    if (lower == "localhost") return true;
    return std::any_of(allowed.begin(), allowed.end(),
                       [&](const std::string& a) { return strip_dot(a) == lower; });
}

}  // namespace snibind::admin
