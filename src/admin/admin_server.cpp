#include "admin/admin_server.h"

#include <array>
#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "admin/console_page.h"
#include "admin/metrics.h"
#include "http/http_message.h"
#include "netsh/netsh_fields.h"
#include "proxy/asio_endpoint.h"
#include "report/json_output.h"

namespace snibind::admin {

namespace asio = boost::asio;
using boost::system::error_code;
using nlohmann::json;

namespace {

std::string respond_json(int status, std::string_view reason, const json& body) {
    return http::simple_response(status, reason, "application/json", body.dump(2) + "\n", true);
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

json record_json(const Record& r, const proxy::Runtime& rt) {
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
        j["action"] = std::string(config::to_string(entry->action));
        if (entry->backend) j["backend"] = entry->backend->to_string();
    }
    if (r.key.family == Family::ip || r.key.family == Family::host) {
        j["certificate"] = certificate_json(cert.get());
        j["health"] = health(cert.get());
    }
    return j;
}

json urlacl_json(const proxy::Runtime& rt) {
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

json records_json(const BindingTable& table, const proxy::Runtime& rt) {
    json ip = json::array(), sni = json::array(), ccs = json::array();
    auto reader = table.read();
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

std::string explain(const AdminRequest& request, const BindingTable& table,
                    const proxy::Runtime& rt) {
    auto dst = Endpoint::parse(query_param(request.target, "dst"));
    if (!dst) return error_json(400, "Bad Request", "dst must be ADDR:PORT ([::1]:443 for IPv6)");
    SelectionSettings settings = rt.config.selection;
    if (auto p = query_param(request.target, "profile"); !p.empty()) {
        auto profile = parse_profile(p);
        if (!profile) return error_json(400, "Bad Request", "unknown profile '" + p + "'");
        settings.profile = *profile;
    }
    if (auto p = query_param(request.target, "precedence"); !p.empty()) {
        auto precedence = parse_precedence(p);
        if (!precedence)
            return error_json(400, "Bad Request", "precedence must be sni-first or ip-first");
        settings.precedence = *precedence;
    }
    std::string sni = query_param(request.target, "sni");
    const bool sni_sent = !sni.empty();
    std::string host;
    Connection conn =
        connection_for(*dst, sni_sent ? std::optional<std::string_view>(sni) : std::nullopt,
                       settings.trailing_dot, host);
    Decision d = select_certificate(table.read(), conn, settings, &rt.selection_certificates);
    json j = report::decision_json(d, settings);
    j["sni"] = sni_sent ? json(sni) : json(nullptr);
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

// One admin connection: requests in, responses out, keep-alive.
class AdminConnection : public std::enable_shared_from_this<AdminConnection> {
  public:
    AdminConnection(asio::ip::tcp::socket socket, std::shared_ptr<AdminContext> context,
                    bool loopback)
        : socket_(std::move(socket)), context_(std::move(context)), loopback_(loopback) {}

    void start() { read(); }

  private:
    void read() {
        socket_.async_read_some(asio::buffer(buffer_),
                                [self = shared_from_this()](const error_code& ec, std::size_t n) {
                                    if (ec) return;
                                    self->pending_.append(self->buffer_.data(), n);
                                    self->parse();
                                });
    }

    void parse() {
        using Event = http::MessageParser::Event;
        for (;;) {
            auto p = parser_.parse({pending_.data(), pending_.size()});
            if (in_body_) body_.append(pending_, 0, p.consumed);
            pending_.erase(0, p.consumed);
            switch (p.event) {
                case Event::error:
                    write(http::simple_response(400, "Bad Request", "text/plain", "bad request\r\n",
                                                false),
                          true);
                    return;
                case Event::head_complete:
                    in_body_ = true;
                    if (parser_.content_length() > static_cast<std::int64_t>(kMaxBody)) break;
                    continue;
                case Event::message_complete:
                    in_body_ = false;
                    dispatch();
                    return;
                case Event::need_more:
                    if (body_.size() <= kMaxBody) {
                        read();
                        return;
                    }
                    break;
            }
            write(error_json(413, "Payload Too Large", "request body over 64 KiB"), true);
            return;
        }
    }

    void dispatch() {
        const http::MessageHead& head = parser_.head();
        AdminRequest request{head.method, head.target, std::move(body_), false, loopback_};
        body_.clear();
        auto auth = head.header("authorization");
        const std::string& token = context_->token;
        request.authorised = !token.empty() && auth.size() == token.size() + 7 &&
                             auth.starts_with("Bearer ") && auth.substr(7) == token;
        bool keep_alive = head.keep_alive;
        handle_admin_request(request, *context_,
                             [self = shared_from_this(), keep_alive](std::string response) {
                                 self->write(std::move(response), !keep_alive);
                             });
    }

    void write(std::string response, bool close_after) {
        out_ = std::move(response);
        asio::async_write(
            socket_, asio::buffer(out_),
            [self = shared_from_this(), close_after](const error_code& ec, std::size_t) {
                if (ec || close_after) {
                    error_code ignored;
                    self->socket_.shutdown(asio::socket_base::shutdown_send, ignored);
                    return;
                }
                self->parser_.next();
                self->parse();
            });
    }

    static constexpr std::size_t kMaxBody = 64 * 1024;
    asio::ip::tcp::socket socket_;
    std::shared_ptr<AdminContext> context_;
    bool loopback_;
    std::array<char, 8192> buffer_{};
    std::string pending_, body_, out_;
    bool in_body_ = false;
    http::MessageParser parser_{http::MessageParser::Kind::request};
};

}  // namespace

void handle_admin_request(const AdminRequest& request, AdminContext& context,
                          std::function<void(std::string)> respond) {
    std::string_view path = request.target;
    path = path.substr(0, path.find('?'));
    if (!request.loopback && !request.authorised) {
        respond(error_json(401, "Unauthorized",
                           "the admin console needs 'Authorization: Bearer <token>' from "
                           "anywhere but loopback (admin_token_file)"));
        return;
    }
    auto rt = context.runtime();
    if (request.method == "GET" && (path == "/" || path == "/index.html")) {
        respond(http::simple_response(200, "OK", "text/html; charset=utf-8", console_page(), true));
    } else if (request.method == "GET" && path == "/api/records") {
        respond(respond_json(200, "OK", records_json(*context.table, *rt)));
    } else if (request.method == "GET" && path == "/api/explain") {
        respond(explain(request, *context.table, *rt));
    } else if (request.method == "GET" && (path == "/api/stats" || path == "/metrics")) {
        bool metrics = path == "/metrics";
        context.collect_stats([respond = std::move(respond), metrics](Stats stats) {
            if (metrics)
                respond(http::simple_response(200, "OK", "text/plain; version=0.0.4",
                                              prometheus_text(stats), true));
            else
                respond(respond_json(200, "OK", stats_json(stats)));
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

AdminServer::AdminServer(asio::io_context& io, const Endpoint& endpoint, AdminContext context)
    : acceptor_(io), context_(std::make_shared<AdminContext>(std::move(context))) {
    auto ep = proxy::to_asio(endpoint);
    const bool loopback = ep.address().is_loopback();
    try {
        acceptor_.open(ep.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
    } catch (const std::exception& e) {
        throw std::runtime_error(
            fmt::format("admin console: cannot listen on {}: {}", endpoint.to_string(), e.what()));
    }
    if (!loopback && context_->token.empty())
        throw std::runtime_error(
            fmt::format("admin console on {} is not loopback: it needs admin_token_file",
                        endpoint.to_string()));
    accept();
}

AdminServer::~AdminServer() = default;

void AdminServer::accept() {
    acceptor_.async_accept([this](const error_code& ec, asio::ip::tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
            error_code peer_ec;
            auto peer = socket.remote_endpoint(peer_ec);
            bool loopback = !peer_ec && peer.address().is_loopback();
            std::make_shared<AdminConnection>(std::move(socket), context_, loopback)->start();
        }
        accept();
    });
}

}  // namespace snibind::admin
